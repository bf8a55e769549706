package io.connmgr.testservers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.connmgr.proto.StreamRequest;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EchoServerTest {

  private static final Duration WAIT = Duration.ofSeconds(10);

  private final List<EchoServer> servers = new ArrayList<>();
  private final List<ManagedChannel> channels = new ArrayList<>();

  @AfterEach
  void tearDown() throws InterruptedException {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    for (EchoServer server : servers) {
      server.close();
    }
  }

  @Test
  void echoRoundTripCarriesServerIdentity() {
    EchoServer server = start(7, "alpha");
    EchoResponse reply = blocking(server).echo(EchoRequest.newBuilder().setMessage("hello").build());
    assertThat(reply.getMessage()).isEqualTo("hello");
    assertThat(reply.getServerId()).isEqualTo(7);
    assertThat(reply.getServerName()).isEqualTo("alpha");
    assertThat(server.callsServed()).isEqualTo(1);
    assertThat(server.lastServerIdHeader()).isNull();
    assertThat(server.address()).isEqualTo("127.0.0.1:" + server.port());
    assertThat(server.serverId()).isEqualTo(7);
    assertThat(server.serverName()).isEqualTo("alpha");
    assertThat(server.isRunning()).isTrue();
  }

  @Test
  void streamSendsCountResponsesIntervalApart() {
    EchoServer server = start(8, "beta");
    long start = System.nanoTime();
    List<EchoResponse> replies = new ArrayList<>();
    blocking(server).stream(StreamRequest.newBuilder().setMessage("s").setCount(3).setIntervalMillis(30).build())
        .forEachRemaining(replies::add);
    long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(replies).hasSize(3).allSatisfy(r -> {
      assertThat(r.getMessage()).isEqualTo("s");
      assertThat(r.getServerId()).isEqualTo(8);
      assertThat(r.getServerName()).isEqualTo("beta");
    });
    assertThat(elapsedMillis).isGreaterThanOrEqualTo(60);
    assertThat(server.callsServed()).isEqualTo(1);
  }

  @Test
  void holdLastsUntilTheClientCancels() throws Exception {
    EchoServer server = start(9, "gamma");
    HoldCall hold = hold(server, 0);
    await().atMost(WAIT).until(() -> server.inFlightHolds() == 1);
    assertThat(hold.result).isNotDone();
    hold.cancel();
    await().atMost(WAIT).until(() -> server.inFlightHolds() == 0);
    assertThat(Status.fromThrowable(hold.result.handle((r, e) -> e).get(5, TimeUnit.SECONDS)).getCode())
        .isEqualTo(Status.Code.CANCELLED);
    assertThat(server.callsServed()).isZero();
  }

  @Test
  void holdWithHoldMillisCompletes() {
    EchoServer server = start(10, "delta");
    EchoResponse reply = blocking(server).withDeadlineAfter(10, TimeUnit.SECONDS)
        .hold(HoldRequest.newBuilder().setHoldMillis(50).setMessage("held").build());
    assertThat(reply.getMessage()).isEqualTo("held");
    assertThat(reply.getServerId()).isEqualTo(10);
    assertThat(server.inFlightHolds()).isZero();
    assertThat(server.callsServed()).isEqualTo(1);
  }

  @Test
  void killFailsAnInFlightHoldWithUnavailableQuickly() throws Exception {
    EchoServer server = start(11, "epsilon");
    HoldCall hold = hold(server, 0);
    await().atMost(WAIT).until(() -> server.inFlightHolds() == 1);
    long start = System.nanoTime();
    server.kill();
    Throwable failure = hold.result.handle((r, e) -> e).get(5, TimeUnit.SECONDS);
    long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
    assertThat(Status.fromThrowable(failure).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(elapsedMillis).isLessThan(2_000);
    assertThat(server.isRunning()).isFalse();
    assertThat(server.inFlightHolds()).isZero();
    server.close(); // idempotent
  }

  @Test
  void stopGracefullyLetsAnInFlightHoldFinish() throws Exception {
    EchoServer server = start(16, "iota");
    HoldCall hold = hold(server, 300);
    await().atMost(WAIT).until(() -> server.inFlightHolds() == 1);
    server.stopGracefully();
    assertThat(server.isRunning()).isFalse();
    assertThat(hold.result.get(5, TimeUnit.SECONDS).getServerId()).isEqualTo(16);
    assertThat(server.callsServed()).isEqualTo(1);
    assertThat(server.inFlightHolds()).isZero();
  }

  @Test
  void serverIdHeaderIsRecordedAndAMismatchIsRejected() {
    EchoServer server = start(12, "zeta");
    EchoRequest request = EchoRequest.newBuilder().setMessage("x").build();

    assertThat(blocking(server).withInterceptors(serverIdHeader("12")).echo(request).getServerId()).isEqualTo(12);
    assertThat(server.lastServerIdHeader()).isEqualTo("12");

    assertThatThrownBy(() -> blocking(server).withInterceptors(serverIdHeader("99")).echo(request))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(e.getStatus().getDescription()).isEqualTo("call meant for server 99 reached server 12");
        });
    assertThat(server.lastServerIdHeader()).isEqualTo("99");
    assertThat(server.callsServed()).isEqualTo(1);

    blocking(server).echo(request);
    assertThat(server.lastServerIdHeader()).isNull();
  }

  @Test
  void healthIsServing() {
    EchoServer server = start(13, "eta");
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel(server))
        .withDeadlineAfter(10, TimeUnit.SECONDS);
    assertThat(health.check(HealthCheckRequest.newBuilder().setService("").build()).getStatus())
        .isEqualTo(ServingStatus.SERVING);
    assertThat(health.check(HealthCheckRequest.newBuilder().setService(EchoServiceGrpc.SERVICE_NAME).build())
        .getStatus()).isEqualTo(ServingStatus.SERVING);
  }

  @Test
  void restartOnTheSamePortAfterKill() {
    EchoServer first = start(14, "theta");
    ManagedChannel channel = channel(first);
    EchoRequest request = EchoRequest.newBuilder().setMessage("again").build();
    assertThat(EchoServiceGrpc.newBlockingStub(channel).echo(request).getServerId()).isEqualTo(14);
    HoldCall hold = hold(first, 0);
    await().atMost(WAIT).until(() -> first.inFlightHolds() == 1);
    first.kill();

    EchoServer second = start(14, "theta", first.port());
    assertThat(second.address()).isEqualTo(first.address());
    // The old channel reconnects to the new server on the same address.
    EchoResponse reply = EchoServiceGrpc.newBlockingStub(channel).withWaitForReady()
        .withDeadlineAfter(10, TimeUnit.SECONDS).echo(request);
    assertThat(reply.getServerId()).isEqualTo(14);
    assertThat(second.callsServed()).isEqualTo(1);
    await().atMost(WAIT).until(hold.result::isCompletedExceptionally);
  }

  @Test
  void startOnAPortInUseFails() {
    EchoServer server = start(17, "kappa");
    assertThatThrownBy(() -> start(18, "lambda", server.port())).isInstanceOf(UncheckedIOException.class);
    assertThat(blocking(server).echo(EchoRequest.newBuilder().setMessage("still").build()).getServerId())
        .isEqualTo(17);
  }

  @Test
  void echoServerMainRunsAsAChildProcess() throws Exception {
    try (ChildJvm child = ChildJvm.start(EchoServerMain.class, "15", "child", "0")) {
      String line = child.awaitLine("LISTENING ", Duration.ofSeconds(60));
      assertThat(line).matches("LISTENING 127\\.0\\.0\\.1:\\d+");
      int port = Integer.parseInt(line.substring(line.lastIndexOf(':') + 1));
      ManagedChannel channel = track(ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build());
      EchoResponse reply = EchoServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
          .echo(EchoRequest.newBuilder().setMessage("child").build());
      assertThat(reply.getServerId()).isEqualTo(15);
      assertThat(reply.getServerName()).isEqualTo("child");
      child.kill();
    }
  }

  private EchoServer start(long id, String name) {
    return start(id, name, 0);
  }

  private EchoServer start(long id, String name, int port) {
    EchoServer server = EchoServer.start(id, name, port);
    servers.add(server);
    return server;
  }

  private ManagedChannel track(ManagedChannel channel) {
    channels.add(channel);
    return channel;
  }

  private ManagedChannel channel(EchoServer server) {
    return track(ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build());
  }

  private EchoServiceGrpc.EchoServiceBlockingStub blocking(EchoServer server) {
    return EchoServiceGrpc.newBlockingStub(channel(server)).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  private static io.grpc.ClientInterceptor serverIdHeader(String value) {
    Metadata headers = new Metadata();
    headers.put(EchoServer.SERVER_ID_HEADER, value);
    return MetadataUtils.newAttachHeadersInterceptor(headers);
  }

  /** Starts an asynchronous Hold call; {@link #result} completes with its response or failure. */
  private HoldCall hold(EchoServer server, long holdMillis) {
    HoldCall call = new HoldCall();
    EchoServiceGrpc.newStub(channel(server))
        .hold(HoldRequest.newBuilder().setHoldMillis(holdMillis).setMessage("hold").build(), call);
    return call;
  }

  private static final class HoldCall implements ClientResponseObserver<HoldRequest, EchoResponse> {
    final CompletableFuture<EchoResponse> result = new CompletableFuture<>();
    private final AtomicReference<ClientCallStreamObserver<HoldRequest>> requestStream = new AtomicReference<>();
    private volatile EchoResponse response;

    @Override
    public void beforeStart(ClientCallStreamObserver<HoldRequest> stream) {
      requestStream.set(stream);
    }

    void cancel() {
      requestStream.get().cancel("test cancels the hold", null);
    }

    @Override
    public void onNext(EchoResponse value) {
      response = value;
    }

    @Override
    public void onError(Throwable t) {
      result.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
      result.complete(response);
    }
  }
}
