package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testservers.EchoServer;
import io.grpc.ManagedChannel;
import io.grpc.NameResolverRegistry;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Re-issue on {@code session:///} channels ({@link SessionNameResolverProvider#reissuing}), real Netty servers. */
@ExtendWith(LeakCheck.class)
class SessionReissueTest {

  private static final String HOLD = "connmgr.test.v1.EchoService/Hold";
  private static final String ROLE = "querynode";

  private final InMemoryRegistry registry = InMemoryRegistry.create();
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
    registry.close();
  }

  private String put(long id, String address) {
    String key = registry.layout().sessionKey(ROLE, id);
    registry.kv().put(key, SessionCodec.encode(Session.builder(ROLE, address).serverId(id).build()));
    return key;
  }

  private EchoServer server(long id) {
    EchoServer s = EchoServer.start(id, ROLE);
    closeables.add(s);
    return s;
  }

  @SuppressWarnings("deprecation") // nameResolverFactory: the way to use a registry of one's own
  private ManagedChannel channel(ReissuePolicy policy) {
    NameResolverRegistry resolvers = new NameResolverRegistry();
    resolvers.register(new SessionNameResolverProvider(registry));
    ManagedChannel ch = NettyChannelBuilder.forTarget("session:///" + ROLE).nameResolverFactory(resolvers.asFactory())
        .usePlaintext().intercept(SessionNameResolverProvider.reissuing(policy)).build();
    closeables.add(() -> {
      ch.shutdownNow();
      ch.awaitTermination(10, TimeUnit.SECONDS);
    });
    return ch;
  }

  private static CompletableFuture<EchoResponse> hold(ManagedChannel ch, long holdMillis) {
    return ReissueTest.hold(ch, holdMillis, 20_000);
  }

  private static Status statusOf(CompletableFuture<?> call) throws Exception {
    return ReissueTest.statusOf(call);
  }

  private static void warm(ManagedChannel ch, int servers) {
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      java.util.Set<Long> seen = new java.util.HashSet<>();
      for (int i = 0; i < 4 * servers; i++) {
        seen.add(EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
            .echo(EchoRequest.newBuilder().build()).getServerId());
      }
      return seen.size() == servers;
    });
  }

  @Test
  void anIdempotentCallWhoseSessionGoesIsReissuedOnAnotherServerWithItsServerId() throws Exception {
    EchoServer a = server(1);
    EchoServer b = server(2);
    String keyA = put(1, a.address());
    put(2, b.address());
    ManagedChannel ch = channel(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD));
    warm(ch, 2);
    CompletableFuture<EchoResponse> call = hold(ch, 300);
    await().atMost(Duration.ofSeconds(5)).until(() -> a.inFlightHolds() + b.inFlightHolds() == 1);
    EchoServer first = a.inFlightHolds() == 1 ? a : b;
    EchoServer other = first == a ? b : a;

    registry.kv().delete(registry.layout().sessionKey(ROLE, first.serverId()));
    assertThat(call.get(10, TimeUnit.SECONDS).getServerId()).isEqualTo(other.serverId());
    assertThat(other.lastServerIdHeader()).isEqualTo(Long.toString(other.serverId()));
    assertThat(keyA).isNotNull();
  }

  @Test
  void aSentCallThatIsNotIdempotentFailsFastNamingItsServer() throws Exception {
    EchoServer a = server(1);
    EchoServer b = server(2);
    put(1, a.address());
    put(2, b.address());
    ManagedChannel ch = channel(ReissuePolicy.DEFAULT);
    warm(ch, 2);
    CompletableFuture<EchoResponse> call = hold(ch, 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> a.inFlightHolds() + b.inFlightHolds() == 1);
    EchoServer first = a.inFlightHolds() == 1 ? a : b;
    EchoServer other = first == a ? b : a;

    registry.kv().delete(registry.layout().sessionKey(ROLE, first.serverId()));
    Status s = statusOf(call);
    assertThat(s.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(s.getDescription()).isEqualTo(ROLE + "-" + first.serverId() + " (" + first.address() + ") deleted");
    assertThat(other.holdsStarted()).isZero();
  }

  @Test
  void theBalancerNeverPicksAServerTheCallTried() throws Exception {
    // two servers that answer every Hold with UNAVAILABLE (as a server shutting down may): each is tried once
    AtomicInteger[] calls = {new AtomicInteger(), new AtomicInteger()};
    for (int i = 0; i < 2; i++) {
      AtomicInteger count = calls[i];
      long id = i + 1;
      Server s = NettyServerBuilder.forAddress(new InetSocketAddress(EchoServer.HOST, 0))
          .addService(new EchoServiceGrpc.EchoServiceImplBase() {
            @Override
            public void echo(EchoRequest request, StreamObserver<EchoResponse> observer) {
              observer.onNext(EchoResponse.newBuilder().setServerId(id).build());
              observer.onCompleted();
            }

            @Override
            public void hold(HoldRequest request, StreamObserver<EchoResponse> observer) {
              count.incrementAndGet();
              observer.onError(Status.UNAVAILABLE.withDescription("server " + id + " is shutting down")
                  .asRuntimeException());
            }
          }).build().start();
      closeables.add(() -> s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS));
      put(id, EchoServer.HOST + ":" + s.getPort());
    }
    ManagedChannel ch = channel(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD).withMaxAttempts(5));
    warm(ch, 2);

    Status s = statusOf(hold(ch, 0));
    assertThat(s.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(s.getDescription()).endsWith("is shutting down"); // the last server's own status, not ours
    assertThat(calls[0].get()).isEqualTo(1);
    assertThat(calls[1].get()).isEqualTo(1);
  }

  @Test
  void aRoleWithNoLiveSessionFailsAtOnce() {
    ManagedChannel ch = channel(ReissuePolicy.DEFAULT);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> EchoServiceGrpc.newBlockingStub(ch)
            .withDeadlineAfter(20, TimeUnit.SECONDS).echo(EchoRequest.newBuilder().build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
          assertThat(e.getStatus().getDescription()).isEqualTo("no live session of role " + ROLE);
        });
  }
}
