package io.connmgr.connection;

import io.connmgr.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;
import static io.connmgr.connection.ConnectionManagerTest.echo;
import static io.connmgr.connection.ConnectionManagerTest.hold;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.Registration;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.proto.EchoResponse;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testservers.ChildJvm;
import io.connmgr.testservers.EchoServer;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The connection manager against a real etcd, real server processes and real Netty servers. */
@ExtendWith(LeakCheck.class)
class ConnectionManagerEtcdTest {

  @RegisterExtension
  final EtcdCluster etcd = EtcdCluster.singleMember();

  private EtcdDiscovery discovery;
  private final List<AutoCloseable> closeables = new ArrayList<>();

  @BeforeEach
  void setUp() {
    discovery = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints())
        .retryBackoff(Duration.ofMillis(50), Duration.ofMillis(500)).build();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
    discovery.close();
  }

  private <T extends AutoCloseable> T closeLater(T c) {
    closeables.add(c);
    return c;
  }

  private Registration register(EchoServer s, Duration ttl) throws Exception {
    return discovery.register(Session.builder(s.serverName(), s.address()).serverId(s.serverId()).build(), ttl,
        RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
  }

  private ChildJvm startServerProcess(String role, long id, int ttlSeconds) throws Exception {
    ChildJvm p = closeLater(ChildJvm.start(ServerProcessMain.class, etcd.clientEndpoint(0), role, Long.toString(id),
        Integer.toString(ttlSeconds)));
    p.awaitLine("READY", Duration.ofSeconds(60));
    return p;
  }

  @Test
  void aServerProcessKilledWithKill9FailsItsCallsExpiresAndIsRestored() throws Exception {
    ChildJvm server = startServerProcess("querynode", 21, 2);
    RecordingConnectionListener l = new RecordingConnectionListener();
    ConnectionManager cm = closeLater(ConnectionManager.create(ConnectionOptions.builder(discovery)
        .dependsOn("querynode").listener(l)
        .retry(RetryPolicy.DEFAULT.withBackoff(Duration.ofMillis(100), 2, Duration.ofMillis(400))).build()));
    cm.start().get(10, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(10)).until(() -> cm.serverState("querynode", 21) == ServerState.READY);
    CompletableFuture<Status> call = hold(cm.channel("querynode", 21), 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> echo(cm.channel("querynode", 21), "ping") != null);

    server.kill(); // kill -9
    assertThat(call.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    await().atMost(Duration.ofSeconds(5)).until(() -> l.calls.contains("down querynode-21"));
    // the lease (2 s) runs out: the session goes
    await().atMost(Duration.ofSeconds(15)).until(() -> l.calls.stream().anyMatch(
        c -> c.startsWith("removed querynode-21") && c.endsWith("lease expired")));
    assertThat(cm.serverState("querynode", 21)).isNull();

    startServerProcess("querynode", 21, 2); // back, on a new port
    await().atMost(Duration.ofSeconds(15)).until(() -> cm.serverState("querynode", 21) == ServerState.READY);
    assertThat(echo(cm.pick("querynode"), "again").getServerId()).isEqualTo(21);
  }

  @Test
  void callsToKnownServersKeepSucceedingWhileEtcdIsDownForTenSeconds() throws Exception {
    List<EchoServer> servers = new ArrayList<>();
    for (int i = 1; i <= 3; i++) {
      EchoServer s = closeLater(EchoServer.start(i, "querynode"));
      servers.add(s);
      register(s, Duration.ofSeconds(60));
    }
    ConnectionManager cm = closeLater(ConnectionManager.create(ConnectionOptions.builder(discovery)
        .dependsOn("querynode").build()));
    cm.start().get(10, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(10)).until(() -> cm.stats().roles().get("querynode").ready() == 3);

    etcd.kill(0);
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    int calls = 0;
    Set<Long> reached = new HashSet<>();
    while (System.nanoTime() < end) {
      EchoResponse r = echo(cm.pick("querynode"), "during outage");
      reached.add(r.getServerId());
      calls++;
    }
    etcd.start(0);
    assertThat(calls).isGreaterThan(100);
    assertThat(reached).containsExactlyInAnyOrder(1L, 2L, 3L);
    await().atMost(Duration.ofSeconds(20)).until(() -> cm.state() == ManagerState.HEALTHY);
  }

  @Test
  void sessionTargetBalancesAndCancelsOnlyTheRemovedServersCalls() throws Exception {
    List<EchoServer> servers = new ArrayList<>();
    List<Registration> regs = new ArrayList<>();
    for (int i = 1; i <= 3; i++) {
      EchoServer s = closeLater(EchoServer.start(i, "querynode"));
      servers.add(s);
      regs.add(register(s, Duration.ofSeconds(30)));
    }
    String target = "session://" + etcd.clientEndpoint(0).substring("http://".length()) + "/querynode";
    ManagedChannel ch = ManagedChannelBuilder.forTarget(target).usePlaintext()
        .intercept(SessionNameResolverProvider.failFast()).build();
    closeLater(() -> ch.shutdownNow());
    Set<Long> reached = new HashSet<>();
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      reached.add(echo(ch, "rr").getServerId());
      return reached.size() == 3;
    });
    assertThat(servers.get(0).lastServerIdHeader()).isEqualTo("1");

    List<CompletableFuture<Status>> calls = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      calls.add(hold(ch, 0));
    }
    await().atMost(Duration.ofSeconds(5))
        .until(() -> servers.stream().mapToInt(EchoServer::inFlightHolds).sum() == 6);
    int onFirst = servers.get(0).inFlightHolds();
    assertThat(onFirst).isPositive();

    regs.get(0).closeAsync().get(10, TimeUnit.SECONDS); // Stopping, then the lease is revoked
    await().atMost(Duration.ofSeconds(5)).until(() -> calls.stream().filter(CompletableFuture::isDone).count()
        == onFirst);
    for (CompletableFuture<Status> c : calls) {
      if (c.isDone()) {
        assertThat(c.get().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(c.get().getDescription()).isEqualTo("querynode-1 (" + servers.get(0).address() + ") deregistered");
      }
    }
    assertThat(servers.get(1).inFlightHolds() + servers.get(2).inFlightHolds()).isEqualTo(6 - onFirst);
    for (int i = 0; i < 10; i++) {
      assertThat(echo(ch, "after").getServerId()).isIn(2L, 3L);
    }
  }
}
