package io.connmgr.connection;

import static io.connmgr.connection.ConnectionManagerTest.closedPort;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.connmgr.proto.StreamRequest;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testservers.EchoServer;
import io.grpc.Channel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Role channels and re-issue, over the in-memory registry and real Netty servers on loopback. */
@ExtendWith(LeakCheck.class)
class ReissueTest {

  private static final String HOLD = "connmgr.test.v1.EchoService/Hold";
  private static final String ROLE = "querynode";

  private final TestCluster cluster = new TestCluster(ROLE);
  private final InMemoryRegistry registry = cluster.registry;
  private final Map<Long, EchoServer> servers = cluster.servers;
  private final List<Server> rawServers = cluster.rawServers;
  private final RecordingConnectionListener listener = new RecordingConnectionListener();

  @AfterEach
  void tearDown() throws Exception {
    cluster.close();
  }

  private EchoServer server(long id) {
    return cluster.server(id);
  }

  private void register(long id, String address) {
    cluster.register(id, address);
  }

  private void deregister(long id) {
    cluster.deregister(id);
  }

  private void markStopping(long id) {
    cluster.markStopping(id);
  }

  private ConnectionManager manager(ReissuePolicy policy) throws Exception {
    return cluster.manager(ConnectionOptions.builder(registry).roles(ROLE).reissue(policy).listener(listener));
  }

  private static EchoResponse echo(Channel ch) {
    return EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
        .echo(EchoRequest.newBuilder().setMessage("x").build());
  }

  private static EchoResponse append(Channel ch) {
    return EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
        .append(EchoRequest.newBuilder().setMessage("w").build());
  }

  /** A Hold call; the future completes with the response or fails with the call's status. */
  static CompletableFuture<EchoResponse> hold(Channel ch, long holdMillis, long deadlineMillis) {
    CompletableFuture<EchoResponse> done = new CompletableFuture<>();
    EchoServiceGrpc.newStub(ch).withDeadlineAfter(deadlineMillis, TimeUnit.MILLISECONDS)
        .hold(HoldRequest.newBuilder().setHoldMillis(holdMillis).build(), new StreamObserver<>() {
          private EchoResponse last;

          @Override
          public void onNext(EchoResponse value) {
            last = value;
          }

          @Override
          public void onError(Throwable t) {
            done.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {
            done.complete(last);
          }
        });
    return done;
  }

  static Status statusOf(CompletableFuture<?> call) throws Exception {
    try {
      call.get(10, TimeUnit.SECONDS);
      return Status.OK;
    } catch (java.util.concurrent.ExecutionException e) {
      return Status.fromThrowable(e.getCause());
    }
  }

  /** A manager over servers 1 and 2 and a Hold call of its role channel held by one of them ({@code first}). */
  private record Held(ConnectionManager cm, CompletableFuture<EchoResponse> call, long first, long other) {}

  private Held holdOnOneOfTwo(ReissuePolicy policy, long holdMillis, long deadlineMillis) throws Exception {
    server(1);
    server(2);
    ConnectionManager cm = manager(policy);
    CompletableFuture<EchoResponse> call = hold(cm.roleChannel(ROLE), holdMillis, deadlineMillis);
    long first = holder();
    return new Held(cm, call, first, first == 1 ? 2 : 1);
  }

  /** The id of the one server now holding a call of ours. */
  private long holder() {
    await().atMost(Duration.ofSeconds(5)).until(() -> servers.values().stream().anyMatch(s -> s.inFlightHolds() > 0));
    return servers.values().stream().filter(s -> s.inFlightHolds() > 0).findFirst().orElseThrow().serverId();
  }

  @Test
  void aRoleChannelBalancesOverTheRoleAndFollowsItsServers() throws Exception {
    server(1);
    server(2);
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT);
    Channel ch = cm.roleChannel(ROLE);
    assertThat(cm.roleChannel(ROLE)).isSameAs(ch);
    Set<Long> seen = new HashSet<>();
    for (int i = 0; i < 10; i++) {
      seen.add(echo(ch).getServerId());
    }
    assertThat(seen).containsExactlyInAnyOrder(1L, 2L);

    server(3);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverState(ROLE, 3) != null);
    deregister(1);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverState(ROLE, 1) == null);
    seen.clear();
    for (int i = 0; i < 10; i++) {
      seen.add(echo(ch).getServerId());
    }
    assertThat(seen).containsExactlyInAnyOrder(2L, 3L);
    // the calls carried the ServerID header of the server each one reached (a wrong one is rejected)
    assertThat(servers.get(3L).lastServerIdHeader()).isEqualTo("3");
  }

  @Test
  void aRoleWithNoLiveServerFailsAtOnce() throws Exception {
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT);
    assertThatThrownBy(() -> echo(cm.roleChannel("nobody")))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
          assertThat(e.getStatus().getDescription()).isEqualTo("no available server of role nobody");
        });
  }

  @Test
  void anIdempotentCallInFlightWhenItsServerIsRemovedSucceedsOnAnotherWithItsServerId() throws Exception {
    Held h = holdOnOneOfTwo(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD), 300, 10_000);
    ConnectionManager cm = h.cm();
    CompletableFuture<EchoResponse> call = h.call();
    long first = h.first();
    long other = h.other();

    deregister(first);
    EchoResponse r = call.get(10, TimeUnit.SECONDS);
    assertThat(r.getServerId()).isEqualTo(other);
    assertThat(servers.get(other).lastServerIdHeader()).isEqualTo(Long.toString(other));
    assertThat(cm.stats().reissued()).isEqualTo(1);
    await().until(() -> listener.calls.contains("reissued " + ROLE + "-" + first + " -> " + ROLE + "-" + other));
  }

  @Test
  void anIdempotentCallOnAServerThatCrashesIsReissuedOnAnother() throws Exception {
    Held h = holdOnOneOfTwo(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD), 300, 10_000);
    ConnectionManager cm = h.cm();
    CompletableFuture<EchoResponse> call = h.call();
    long first = h.first();
    long other = h.other();

    servers.get(first).kill(); // the connection drops; the session is still registered
    assertThat(call.get(10, TimeUnit.SECONDS).getServerId()).isEqualTo(other);
    assertThat(cm.stats().reissued()).isEqualTo(1);
  }

  @Test
  void aNonIdempotentCallOnAServerThatCrashesFailsAtOnce() throws Exception {
    Held h = holdOnOneOfTwo(ReissuePolicy.DEFAULT, 0, 30_000);
    ConnectionManager cm = h.cm();
    CompletableFuture<EchoResponse> call = h.call();
    long first = h.first();
    long other = h.other();

    servers.get(first).kill();
    assertThat(statusOf(call).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(servers.get(other).holdsStarted()).isZero();
    assertThat(cm.stats().reissued()).isZero();
  }

  @Test
  void aCallThatWasSentAndIsNotIdempotentFailsFastNamingItsServer() throws Exception {
    Held h = holdOnOneOfTwo(ReissuePolicy.DEFAULT, 0, 30_000);
    ConnectionManager cm = h.cm();
    CompletableFuture<EchoResponse> call = h.call();
    long first = h.first();
    long other = h.other();

    deregister(first);
    Status s = statusOf(call);
    assertThat(s.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(s.getDescription()).isEqualTo(ROLE + "-" + first + " (" + servers.get(first).address()
        + ") deregistered");
    assertThat(servers.get(other).holdsStarted()).isZero();
    assertThat(cm.stats().reissued()).isZero();
  }

  @Test
  void aCallWhoseConnectionFailedBeforeItWasSentIsReissuedForAnyMethod() throws Exception {
    // a server that accepts TCP and never speaks: a call picked to it waits for the connection
    ServerSocket blackhole = new ServerSocket(0, 50, InetAddress.getByName(EchoServer.HOST));
    List<Socket> accepted = new CopyOnWriteArrayList<>();
    Thread acceptor = new Thread(() -> {
      try {
        while (true) {
          accepted.add(blackhole.accept());
        }
      } catch (IOException e) {
        // closed
      }
    }, "blackhole-acceptor");
    acceptor.start();
    try {
      register(9, EchoServer.HOST + ":" + blackhole.getLocalPort());
      ConnectionManager cm = manager(ReissuePolicy.DEFAULT);
      await().until(() -> cm.serverState(ROLE, 9) != null);
      CompletableFuture<EchoResponse> write = new CompletableFuture<>();
      EchoServiceGrpc.newStub(cm.roleChannel(ROLE)).withDeadlineAfter(20, TimeUnit.SECONDS)
          .append(EchoRequest.newBuilder().setMessage("w").build(), observer(write)); // Append is not idempotent
      await().until(() -> !accepted.isEmpty());
      EchoServer live = server(2);
      await().until(() -> cm.serverState(ROLE, 2) == ServerState.READY);
      assertThat(write).isNotDone();

      blackhole.close(); // the connection fails before the call's headers were ever written
      for (Socket s : accepted) {
        s.close();
      }
      assertThat(write.get(10, TimeUnit.SECONDS).getServerId()).isEqualTo(2);
      assertThat(live.appends()).isEqualTo(1);
      assertThat(cm.stats().reissued()).isEqualTo(1);
      await().until(() -> listener.calls.contains("reissued " + ROLE + "-9 -> " + ROLE + "-2"));
    } finally {
      blackhole.close();
      acceptor.join(5_000);
    }
  }

  @Test
  void aCallBufferedWhenTheServerSentGoawayIsReissuedForAnyMethod() throws Exception {
    // one stream per connection: a second call waits in the client's buffer, never sent
    AtomicLong appendsOnG = new AtomicLong();
    Server g = NettyServerBuilder.forAddress(new InetSocketAddress(EchoServer.HOST, 0))
        .maxConcurrentCallsPerConnection(1)
        .addService(new EchoServiceGrpc.EchoServiceImplBase() {
          @Override
          public void hold(HoldRequest request, StreamObserver<EchoResponse> observer) {}

          @Override
          public void append(EchoRequest request, StreamObserver<EchoResponse> observer) {
            appendsOnG.incrementAndGet();
            observer.onNext(EchoResponse.newBuilder().setServerId(7).build());
            observer.onCompleted();
          }
        }).build().start();
    rawServers.add(g);
    register(7, EchoServer.HOST + ":" + g.getPort());
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT);
    await().until(() -> cm.serverState(ROLE, 7) != null);
    Channel ch = cm.roleChannel(ROLE);
    CompletableFuture<EchoResponse> held = hold(ch, 0, 30_000);
    await().until(() -> cm.serverState(ROLE, 7) == ServerState.READY);
    CompletableFuture<EchoResponse> write = new CompletableFuture<>();
    EchoServiceGrpc.newStub(ch).withDeadlineAfter(20, TimeUnit.SECONDS)
        .append(EchoRequest.newBuilder().setMessage("w").build(), observer(write));
    EchoServer b = server(2); // known only now: the write was picked to g, where it waits behind the hold

    await().until(() -> cm.serverState(ROLE, 2) != null);
    g.shutdown(); // GOAWAY: the buffered write was never sent
    assertThat(write.get(10, TimeUnit.SECONDS).getServerId()).isEqualTo(2);
    assertThat(b.appends()).isEqualTo(1);
    assertThat(appendsOnG).hasValue(0);
    g.shutdownNow();
    assertThat(statusOf(held).getCode()).isIn(Status.Code.UNAVAILABLE, Status.Code.CANCELLED);
  }

  private static StreamObserver<EchoResponse> observer(CompletableFuture<EchoResponse> done) {
    return new StreamObserver<>() {
      @Override
      public void onNext(EchoResponse value) {
        done.complete(value);
      }

      @Override
      public void onError(Throwable t) {
        done.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {}
    };
  }

  @Test
  void aCallWhoseResponseHasBegunIsNeverReissued() throws Exception {
    server(1);
    server(2);
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT);
    List<Long> from = new CopyOnWriteArrayList<>();
    CompletableFuture<Status> done = new CompletableFuture<>();
    // Stream is safe (NO_SIDE_EFFECTS), yet once a message has arrived the call stays on its server
    EchoServiceGrpc.newStub(cm.roleChannel(ROLE)).withDeadlineAfter(30, TimeUnit.SECONDS)
        .stream(StreamRequest.newBuilder().setCount(1000).setIntervalMillis(50).build(), new StreamObserver<>() {
          @Override
          public void onNext(EchoResponse value) {
            from.add(value.getServerId());
          }

          @Override
          public void onError(Throwable t) {
            done.complete(Status.fromThrowable(t));
          }

          @Override
          public void onCompleted() {
            done.complete(Status.OK);
          }
        });
    await().until(() -> !from.isEmpty());
    long first = from.get(0);
    deregister(first);
    Status s = done.get(10, TimeUnit.SECONDS);
    assertThat(s.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(s.getDescription()).contains(ROLE + "-" + first).contains("deregistered");
    assertThat(from).containsOnly(first); // never messages from two attempts
    assertThat(cm.stats().reissued()).isZero();
  }

  @Test
  void aCallNeverTriesTheSameServerTwiceAndStopsAfterItsAttempts() throws Exception {
    for (long id = 1; id <= 4; id++) {
      register(id, "127.0.0.1:" + closedPort());
    }
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT.withMaxAttempts(3));
    await().until(() -> cm.stats().roles().get(ROLE) != null && cm.stats().roles().get(ROLE).registered() == 4);
    assertThatThrownBy(() -> append(cm.roleChannel(ROLE)))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
    await().until(() -> listener.count("reissued") == 2);
    Set<String> tried = new HashSet<>();
    for (String c : listener.calls) {
      if (c.startsWith("reissued ")) {
        String[] p = c.substring("reissued ".length()).split(" -> ");
        tried.add(p[0]);
        tried.add(p[1]);
      }
    }
    assertThat(tried).hasSize(3); // three attempts on three different servers
    assertThat(cm.stats().reissued()).isEqualTo(2);
  }

  @Test
  void anExhaustedBudgetFailsTheCallFastAndIsCounted() throws Exception {
    Held h = holdOnOneOfTwo(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD).withBudget(0, 0), 0, 30_000);
    ConnectionManager cm = h.cm();
    CompletableFuture<EchoResponse> call = h.call();
    long first = h.first();

    deregister(first);
    Status s = statusOf(call);
    assertThat(s.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(s.getDescription()).contains(ROLE + "-" + first).contains("deregistered");
    assertThat(cm.stats().reissueBudgetExhausted()).isEqualTo(1);
    assertThat(cm.stats().reissued()).isZero();
    await().until(() -> listener.calls.contains("budgetExhausted " + ROLE + " " + ROLE + "-" + first));
  }

  @Test
  void aReissuedCallKeepsItsOriginalDeadline() throws Exception {
    server(1);
    server(2);
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD));
    long start = System.nanoTime();
    CompletableFuture<EchoResponse> call = hold(cm.roleChannel(ROLE), 0, 3_000);
    long first = holder();
    long other = first == 1 ? 2 : 1;
    deregister(first);
    await().atMost(Duration.ofSeconds(5)).until(() -> servers.get(other).inFlightHolds() == 1);

    assertThat(statusOf(call).getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
    // had the re-issue started a new deadline, the call would have run 3 s past the re-issue
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(5_500));
  }

  @Test
  void aStoppingServerDrainsAndWhatIsStillInFlightWhenItLeavesIsReissued() throws Exception {
    Held h = holdOnOneOfTwo(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD), 0, 30_000);
    ConnectionManager cm = h.cm();
    CompletableFuture<EchoResponse> call = h.call();
    long first = h.first();
    long other = h.other();

    markStopping(first);
    await().until(() -> cm.serverState(ROLE, first) == ServerState.STOPPING);
    for (int i = 0; i < 6; i++) {
      assertThat(echo(cm.roleChannel(ROLE)).getServerId()).isEqualTo(other); // no new calls to the stopping one
    }
    assertThat(call).isNotDone(); // its call in flight drains
    assertThat(servers.get(first).inFlightHolds()).isEqualTo(1);

    deregister(first);
    await().atMost(Duration.ofSeconds(5)).until(() -> servers.get(other).inFlightHolds() == 1);
    assertThat(servers.get(first).inFlightHolds()).isZero();
    assertThat(call).isNotDone(); // re-issued, not failed
    assertThat(cm.stats().reissued()).isEqualTo(1);
  }

  @Test
  void withReissueDisabledARoleChannelStillPicksPerCallAndFailsFast() throws Exception {
    Held h = holdOnOneOfTwo(ReissuePolicy.DISABLED.withIdempotentMethods(HOLD), 0, 30_000);
    ConnectionManager cm = h.cm();
    CompletableFuture<EchoResponse> call = h.call();
    long first = h.first();
    deregister(first);
    assertThat(statusOf(call).getDescription()).contains(ROLE + "-" + first).contains("deregistered");
    assertThat(cm.stats().reissued()).isZero();
  }

  /** Calls in flight on {@code id} as its tracker counts them. */
  private static int tracked(ConnectionManager cm, long id) {
    return ((CallTracker) cm.channel(ROLE, id)).size();
  }

  @Test
  void endedAttemptsLeaveNothingInTheirServersTrackers() throws Exception {
    server(1);
    server(2);
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD));
    Channel ch = cm.roleChannel(ROLE);
    for (int i = 0; i < 20; i++) {
      echo(ch);
      // an attempt that ends at once, before its launch has finished tracking it
      assertThatThrownBy(() -> EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(-1, TimeUnit.SECONDS)
          .echo(EchoRequest.newBuilder().build())).isInstanceOf(StatusRuntimeException.class);
    }
    CompletableFuture<EchoResponse> moved = hold(ch, 200, 10_000);
    long first = holder();
    deregister(first);
    moved.get(10, TimeUnit.SECONDS);
    long other = first == 1 ? 2 : 1;
    await().untilAsserted(() -> assertThat(tracked(cm, other)).isZero());
  }

  @Test
  void aCallWhoseContextIsCancelledIsNotReissued() throws Exception {
    server(1);
    server(2);
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD));
    io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
    CompletableFuture<EchoResponse> call = context.call(() -> hold(cm.roleChannel(ROLE), 0, 30_000));
    holder();
    context.cancel(null);
    assertThat(statusOf(call).getCode()).isEqualTo(Status.Code.CANCELLED);
    assertThat(cm.stats().reissued()).isZero();
    assertThat(servers.get(1L).holdsStarted() + servers.get(2L).holdsStarted()).isEqualTo(1);
  }

  @Test
  void withADirectExecutorTheApplicationIsNeverCalledInsideStartAndCallsAreStillReissued() throws Exception {
    server(1);
    server(2);
    register(9, "127.0.0.1:" + closedPort()); // refuses connections: an attempt there fails fast, inline
    ConnectionManager cm = manager(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD));
    await().until(() -> cm.serverState(ROLE, 9) != null);
    java.util.concurrent.atomic.AtomicBoolean inStart = new java.util.concurrent.atomic.AtomicBoolean();
    java.util.concurrent.atomic.AtomicBoolean calledInStart = new java.util.concurrent.atomic.AtomicBoolean();
    List<CompletableFuture<Status>> ends = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      CompletableFuture<Status> end = new CompletableFuture<>();
      ends.add(end);
      io.grpc.ClientCall<EchoRequest, EchoResponse> call = cm.roleChannel(ROLE).newCall(
          EchoServiceGrpc.getAppendMethod(), io.grpc.CallOptions.DEFAULT.withExecutor(Runnable::run)
              .withDeadlineAfter(10, TimeUnit.SECONDS));
      inStart.set(true);
      call.start(new io.grpc.ClientCall.Listener<>() {
        @Override
        public void onClose(Status status, io.grpc.Metadata trailers) {
          if (inStart.get()) {
            calledInStart.set(true);
          }
          end.complete(status);
        }
      }, new io.grpc.Metadata());
      inStart.set(false);
      call.request(1);
      call.sendMessage(EchoRequest.newBuilder().setMessage("w" + i).build());
      call.halfClose();
    }
    for (CompletableFuture<Status> end : ends) {
      assertThat(end.get(10, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.OK);
    }
    assertThat(calledInStart).isFalse();
    assertThat(servers.get(1L).appends() + servers.get(2L).appends()).isEqualTo(12);
  }

  @Test
  void invalidPoliciesNameTheField() {
    assertThatThrownBy(() -> ReissuePolicy.DEFAULT.withMaxAttempts(0))
        .hasMessageStartingWith("reissue.maxAttempts");
    assertThatThrownBy(() -> ReissuePolicy.DEFAULT.withBudget(-1, 10))
        .hasMessageStartingWith("reissue.budgetRatio");
    assertThatThrownBy(() -> ReissuePolicy.DEFAULT.withBudget(0.2, -1))
        .hasMessageStartingWith("reissue.budgetPerSecond");
    assertThatThrownBy(() -> ReissuePolicy.DEFAULT.withMaxReplayMessages(0))
        .hasMessageStartingWith("reissue.maxReplayMessages");
    assertThatThrownBy(() -> ReissuePolicy.DEFAULT.withIdempotentMethods("Hold"))
        .hasMessageStartingWith("reissue.idempotentMethods");
  }
}
