package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testservers.EchoServer;
import io.grpc.Channel;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import io.grpc.MethodDescriptor;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** Health per server: the health Watch, outlier ejection, slow start; real Netty servers, the in-memory registry. */
@ExtendWith(LeakCheck.class)
class HealthTest {

  private static final String ROLE = "querynode";

  private final TestCluster cluster = new TestCluster(ROLE);
  private final InMemoryRegistry registry = cluster.registry;
  private final RecordingConnectionListener listener = new RecordingConnectionListener();

  @AfterEach
  void tearDown() throws Exception {
    cluster.close();
  }

  private EchoServer server(long id) {
    return cluster.server(id);
  }

  private ConnectionManager manager(ConnectionOptions.Builder b) throws Exception {
    return cluster.manager(b.listener(listener));
  }

  private ConnectionOptions.Builder options() {
    return ConnectionOptions.builder(registry).dependsOn(ROLE);
  }

  private static long echoServerId(Channel ch) {
    return EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
        .echo(EchoRequest.newBuilder().setMessage("x").build()).getServerId();
  }

  /** Calls through the role channel {@code n} times; returns how many each server answered and how many failed. */
  private static Map<Long, Integer> spread(Channel ch, int n) {
    Map<Long, Integer> by = new HashMap<>();
    for (int i = 0; i < n; i++) {
      try {
        by.merge(echoServerId(ch), 1, Integer::sum);
      } catch (StatusRuntimeException e) {
        by.merge(-1L, 1, Integer::sum);
      }
    }
    return by;
  }

  private static void awaitReady(ConnectionManager cm, long... ids) {
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      for (long id : ids) {
        if (cm.serverState(ROLE, id) != ServerState.READY) {
          return false;
        }
      }
      return true;
    });
  }

  /** Runs after every task queued on the manager's control thread so far. */
  private static void barrier(ConnectionManager cm) throws Exception {
    CompletableFuture<Void> done = new CompletableFuture<>();
    AutoCloseable h = cm.watchClients(ROLE, clients -> done.complete(null));
    done.get(5, TimeUnit.SECONDS);
    h.close();
  }

  // ------------------------------------------------------------------ health Watch

  @Test
  void healthWatchNotServingDegradesTheServerAndServingRestoresIt() throws Exception {
    EchoServer one = server(1);
    server(2);
    ConnectionManager cm = manager(options().healthCheck(ROLE, "").outlier(OutlierPolicy.DISABLED));
    awaitReady(cm, 1, 2);
    await().until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.HEALTHY
        && cm.serverHealth(ROLE, 2) == ServerHealth.HEALTHY);

    one.health().setStatus("", ServingStatus.NOT_SERVING);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.DEGRADED);
    assertThat(cm.serverState(ROLE, 1)).isEqualTo(ServerState.READY);
    assertThat(spread(cm.roleChannel(ROLE), 20)).containsOnlyKeys(2L);
    assertThat(cm.stats().roles().get(ROLE).degraded()).isEqualTo(1);
    assertThat(cm.stats().roles().get(ROLE).healthy()).isEqualTo(1);
    assertThat(listener.calls).anyMatch(c -> c.startsWith("health querynode-1 DEGRADED") && c.contains("NOT_SERVING"));

    one.health().setStatus("", ServingStatus.SERVING);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.HEALTHY);
    await().atMost(Duration.ofSeconds(5)).until(() -> spread(cm.roleChannel(ROLE), 20).containsKey(1L));
  }

  @Test
  void theConfiguredServiceNameIsTheOneWatched() throws Exception {
    EchoServer one = server(1);
    server(2);
    ConnectionManager cm = manager(options().healthCheck(ROLE, EchoServiceGrpc.SERVICE_NAME)
        .outlier(OutlierPolicy.DISABLED));
    awaitReady(cm, 1, 2);
    await().until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.HEALTHY);
    one.health().setStatus("", ServingStatus.NOT_SERVING); // another service: not ours
    one.health().setStatus(EchoServiceGrpc.SERVICE_NAME, ServingStatus.NOT_SERVING);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.DEGRADED);
  }

  @Test
  void degradedServersAreStillUsedWhenNoHealthyOneIsLeft() throws Exception {
    EchoServer one = server(1);
    EchoServer two = server(2);
    ConnectionManager cm = manager(options().healthCheck(ROLE, "").outlier(OutlierPolicy.DISABLED));
    awaitReady(cm, 1, 2);
    one.health().setStatus("", ServingStatus.NOT_SERVING);
    two.health().setStatus("", ServingStatus.NOT_SERVING);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.DEGRADED
        && cm.serverHealth(ROLE, 2) == ServerHealth.DEGRADED);
    assertThat(spread(cm.roleChannel(ROLE), 20)).containsOnlyKeys(1L, 2L);
    assertThat(echoServerId(cm.pick(ROLE))).isIn(1L, 2L);
  }

  @Test
  void aServerWithoutTheHealthServiceCountsAsHealthy() throws Exception {
    // a server with only an echo-like method: Watch answers UNIMPLEMENTED
    MethodDescriptor<byte[], byte[]> ping = MethodDescriptor.<byte[], byte[]>newBuilder()
        .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("test.Plain/Ping")
        .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
    Server raw = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .addService(ServerServiceDefinition.builder("test.Plain")
            .addMethod(ping, ServerCalls.asyncUnaryCall((req, obs) -> {
              obs.onNext(req);
              obs.onCompleted();
            })).build())
        .build().start();
    cluster.rawServers.add(raw);
    cluster.register(9, "127.0.0.1:" + raw.getPort());
    ConnectionManager cm = manager(options().healthCheck(ROLE, ""));
    awaitReady(cm, 9);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 9) == ServerHealth.HEALTHY
        && cm.stats().roles().get(ROLE).healthy() == 1);
    assertThat(listener.calls).noneMatch(c -> c.startsWith("health querynode-9 DEGRADED"));
  }

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
  };

  // ------------------------------------------------------------------ outlier detection

  @Test
  void consecutiveFailuresEjectAServerOfTwoAndItReturnsAfterTheEjection() throws Exception {
    EchoServer one = server(1);
    server(2);
    ConnectionManager cm = manager(options()
        .outlier(OutlierPolicy.DEFAULT.withEjection(Duration.ofMillis(500), Duration.ofSeconds(5))));
    awaitReady(cm, 1, 2);
    one.failCalls(1.0, Status.INTERNAL.withDescription("disk on fire"));
    Channel toOne = cm.channel(ROLE, 1);
    for (int i = 0; i < 5; i++) {
      assertThatThrownBy(() -> echoServerId(toOne)).isInstanceOf(StatusRuntimeException.class);
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.DEGRADED);
    assertThat(cm.stats().roles().get(ROLE).ejected()).isEqualTo(1);
    assertThat(cm.stats().roles().get(ROLE).ejections()).isEqualTo(1);
    assertThat(cm.stats().ejections()).isEqualTo(1);
    assertThat(listener.calls).anyMatch(c -> c.startsWith("ejected querynode-1 500ms 5 consecutive failures"));
    assertThat(spread(cm.roleChannel(ROLE), 20)).containsOnlyKeys(2L);

    one.failCalls(0, Status.INTERNAL);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.HEALTHY);
    assertThat(cm.stats().roles().get(ROLE).ejected()).isZero();
    await().atMost(Duration.ofSeconds(5)).until(() -> spread(cm.roleChannel(ROLE), 20).containsKey(1L));
  }

  @Test
  void aRepeatOffenderIsEjectedForLonger() throws Exception {
    EchoServer one = server(1);
    server(2);
    ConnectionManager cm = manager(options()
        .outlier(OutlierPolicy.DEFAULT.withEjection(Duration.ofMillis(300), Duration.ofSeconds(5))));
    awaitReady(cm, 1, 2);
    one.failCalls(1.0, Status.INTERNAL);
    Channel toOne = cm.channel(ROLE, 1);
    for (int round = 1; round <= 2; round++) {
      for (int i = 0; i < 5; i++) {
        assertThatThrownBy(() -> echoServerId(toOne)).isInstanceOf(StatusRuntimeException.class);
      }
      int r = round;
      await().atMost(Duration.ofSeconds(5)).until(() -> cm.stats().roles().get(ROLE).ejections() == r);
      await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverHealth(ROLE, 1) == ServerHealth.HEALTHY);
    }
    assertThat(listener.calls.stream().filter(c -> c.startsWith("ejected querynode-1")).map(c -> c.split(" ")[2]))
        .containsExactly("300ms", "600ms");
  }

  @Test
  void theLastHealthyServerIsNeverEjected() throws Exception {
    EchoServer one = server(1);
    ConnectionManager cm = manager(options());
    awaitReady(cm, 1);
    one.failCalls(1.0, Status.INTERNAL);
    Channel ch = cm.roleChannel(ROLE);
    for (int i = 0; i < 20; i++) {
      assertThatThrownBy(() -> echoServerId(ch)).isInstanceOf(StatusRuntimeException.class);
    }
    barrier(cm); // the hand-off of the 5th failure has run
    assertThat(cm.serverHealth(ROLE, 1)).isEqualTo(ServerHealth.HEALTHY);
    assertThat(cm.stats().ejections()).isZero();
  }

  @Test
  void neverMoreThanTheConfiguredShareOfTheRoleIsEjected() throws Exception {
    EchoServer one = server(1);
    EchoServer two = server(2);
    server(3);
    server(4);
    ConnectionManager cm = manager(options().outlier(OutlierPolicy.DEFAULT.withMaxEjectedShare(0.25)));
    awaitReady(cm, 1, 2, 3, 4);
    one.failCalls(1.0, Status.INTERNAL);
    two.failCalls(1.0, Status.INTERNAL);
    for (long id : new long[] {1, 2}) {
      Channel ch = cm.channel(ROLE, id);
      for (int i = 0; i < 5; i++) {
        assertThatThrownBy(() -> echoServerId(ch)).isInstanceOf(StatusRuntimeException.class);
      }
    }
    barrier(cm);
    assertThat(cm.stats().roles().get(ROLE).ejected()).isEqualTo(1); // floor(0.25 × 4)
    assertThat(cm.serverHealth(ROLE, 1)).isEqualTo(ServerHealth.DEGRADED);
    assertThat(cm.serverHealth(ROLE, 2)).isEqualTo(ServerHealth.HEALTHY);
  }

  @Test
  void aServerFailingFarMoreThanTheRestOfItsRoleIsEjectedByTheRateRule() throws Exception {
    EchoServer bad = server(1);
    server(2);
    server(3);
    server(4);
    ConnectionManager cm = manager(options().outlier(OutlierPolicy.DEFAULT.withConsecutiveFailures(0)
        .withFailureRate(0.2, 10, Duration.ofMillis(200))));
    awaitReady(cm, 1, 2, 3, 4);
    bad.failCalls(0.5, Status.INTERNAL.withDescription("flaky"));
    Channel ch = cm.roleChannel(ROLE);
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      spread(ch, 40);
      return cm.serverHealth(ROLE, 1) == ServerHealth.DEGRADED;
    });
    assertThat(listener.calls).anyMatch(c -> c.startsWith("ejected querynode-1") && c.contains("failure rate"));
    for (long id = 2; id <= 4; id++) {
      assertThat(cm.serverHealth(ROLE, id)).isEqualTo(ServerHealth.HEALTHY);
    }
    assertThat(spread(ch, 40)).doesNotContainKeys(1L, -1L);
  }

  @Test
  void aRoleThatFailsAlikeEjectsNobodyByTheRateRule() throws Exception {
    server(1).failCalls(0.5, Status.INTERNAL);
    server(2).failCalls(0.5, Status.INTERNAL);
    ConnectionManager cm = manager(options().outlier(OutlierPolicy.DEFAULT.withConsecutiveFailures(0)
        .withFailureRate(0.3, 10, Duration.ofMillis(100))));
    awaitReady(cm, 1, 2);
    Channel ch = cm.roleChannel(ROLE);
    for (int i = 0; i < 10; i++) {
      spread(ch, 40); // ≥ one interval of traffic on both, whatever the scheduling
      barrier(cm);
    }
    assertThat(cm.stats().ejections()).isZero();
  }

  @Test
  void applicationStatusesAreNotFailures() throws Exception {
    EchoServer one = server(1);
    server(2);
    ConnectionManager cm = manager(options());
    awaitReady(cm, 1, 2);
    one.failCalls(1.0, Status.NOT_FOUND.withDescription("no such collection"));
    Channel toOne = cm.channel(ROLE, 1);
    for (int i = 0; i < 20; i++) {
      assertThatThrownBy(() -> echoServerId(toOne)).isInstanceOf(StatusRuntimeException.class);
    }
    barrier(cm);
    assertThat(cm.serverHealth(ROLE, 1)).isEqualTo(ServerHealth.HEALTHY);
  }

  // ------------------------------------------------------------------ slow start

  @Test
  void aNewServersShareOfPicksRampsUpOverTheSlowStartWindow() throws Exception {
    AtomicLong now = new AtomicLong(1_000_000_000L);
    server(1);
    server(2);
    ConnectionManager cm = manager(options().slowStart(Duration.ofSeconds(10)).ticker(now::get));
    awaitReady(cm, 1, 2);
    now.addAndGet(Duration.ofSeconds(11).toNanos()); // both past their own windows
    assertThat(shareOf(cm, 1, 3000)).isBetween(0.4, 0.6);

    server(3);
    awaitReady(cm, 3);
    double atStart = shareOf(cm, 3, 3000);
    now.addAndGet(Duration.ofSeconds(5).toNanos());
    double halfway = shareOf(cm, 3, 3000);
    now.addAndGet(Duration.ofSeconds(6).toNanos());
    double after = shareOf(cm, 3, 3000);
    assertThat(atStart).isLessThan(0.12);
    assertThat(halfway).isBetween(atStart, after);
    assertThat(after).isBetween(0.28, 0.39);
  }

  private static double shareOf(ConnectionManager cm, long id, int picks) {
    int hits = 0;
    for (int i = 0; i < picks; i++) {
      if (((io.connmgr.connection.Server) cm.pick(ROLE)).serverId == id) {
        hits++;
      }
    }
    return (double) hits / picks;
  }

  @Test
  void invalidPoliciesFailAtBuildTimeNamingTheField() {
    assertThatThrownBy(() -> OutlierPolicy.DEFAULT.withMaxEjectedShare(1.5))
        .hasMessageContaining("outlier.maxEjectedShare");
    assertThatThrownBy(() -> OutlierPolicy.DEFAULT.withEjection(Duration.ofSeconds(10), Duration.ofSeconds(1)))
        .hasMessageContaining("outlier.maxEjection");
    assertThatThrownBy(() -> LivenessPolicy.DEFAULT.withKeepAlive(Duration.ofSeconds(1), Duration.ofSeconds(1)))
        .hasMessageContaining("liveness.keepAliveTime");
    assertThatThrownBy(() -> LivenessPolicy.DEFAULT.withProbe(Duration.ofMillis(500), Duration.ZERO))
        .hasMessageContaining("liveness.probeTimeout");
    assertThatThrownBy(() -> ConnectionOptions.builder(registry).slowStart(Duration.ofSeconds(-1)))
        .hasMessageContaining("slowStart");
    assertThatThrownBy(() -> new StandbySignal(java.util.Set.of(Status.Code.OK), "standby"))
        .hasMessageContaining("standby.codes");
  }
}
