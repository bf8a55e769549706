package io.connmgr.connection;

import static io.connmgr.connection.ConnectionManagerTest.echo;
import static io.connmgr.connection.ConnectionManagerTest.hold;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testservers.ChildJvm;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A frozen server process (SIGSTOP: what a long GC pause or a stuck host looks like) keeps its connection open and its
 * session registered: liveness probes find it long before its 30 s lease would expire.
 */
@ExtendWith(LeakCheck.class)
class FrozenServerTest {

  private static final String HOLD = "connmgr.test.v1.EchoService/Hold";

  @RegisterExtension
  final EtcdCluster etcd = EtcdCluster.singleMember();

  private EtcdDiscovery discovery;
  private final List<AutoCloseable> closeables = new ArrayList<>();
  private final List<ChildJvm> stopped = new ArrayList<>();

  @BeforeEach
  void setUp() {
    discovery = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).build();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (ChildJvm p : stopped) {
      signal(p, "CONT"); // a stopped process would not die of SIGTERM until continued
    }
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
    discovery.close();
  }

  private <T extends AutoCloseable> T closeLater(T c) {
    closeables.add(c);
    return c;
  }

  private ChildJvm serverProcess(long id) throws Exception {
    ChildJvm p = closeLater(ChildJvm.start(ServerProcessMain.class, etcd.clientEndpoint(0), "querynode",
        Long.toString(id), "30"));
    p.awaitLine("READY", Duration.ofSeconds(60));
    return p;
  }

  private static void signal(ChildJvm p, String sig) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + sig, Long.toString(p.process().pid())).inheritIO().start();
    assertThat(kill.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(kill.exitValue()).isZero();
  }

  private ConnectionManager manager(RecordingConnectionListener l) throws Exception {
    ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn("querynode")
        .reissue(ReissuePolicy.DEFAULT.withIdempotentMethods(HOLD)).listener(l).build());
    closeables.add(() -> {
      cm.close();
      assertThat(cm.awaitTermination(Duration.ofSeconds(10))).isTrue();
    });
    cm.start().get(10, TimeUnit.SECONDS);
    return cm;
  }

  @Test
  void aFrozenServerIsDetectedByTheLivenessProbeWhileItsLeaseIsValidAndComesBackWhenItResumes() throws Exception {
    ChildJvm server = serverProcess(31);
    RecordingConnectionListener l = new RecordingConnectionListener();
    ConnectionManager cm = manager(l);
    await().atMost(Duration.ofSeconds(10)).until(() -> cm.serverState("querynode", 31) == ServerState.READY);
    CompletableFuture<Status> call = hold(cm.channel("querynode", 31), 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> echo(cm.channel("querynode", 31), "ping") != null);

    signal(server, "STOP");
    stopped.add(server);
    Status status = call.get(10, TimeUnit.SECONDS); // the lease (30 s) is still valid
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).contains("querynode-31").contains("liveness probe");
    assertThat(cm.serverState("querynode", 31)).isEqualTo(ServerState.DOWN);
    assertThat(cm.clients("querynode")).hasSize(1); // the session is still registered
    assertThat(l.calls).contains("down querynode-31", "failedFast querynode-31 1");

    signal(server, "CONT");
    stopped.remove(server);
    await().atMost(Duration.ofSeconds(10)).until(() -> cm.serverState("querynode", 31) == ServerState.READY);
    assertThat(l.calls).contains("restored querynode-31");
    assertThat(echo(cm.channel("querynode", 31), "back").getServerId()).isEqualTo(31);
  }

  @Test
  void anIdempotentCallOnAFrozenServerIsReissuedOnAnotherServer() throws Exception {
    ChildJvm first = serverProcess(41);
    serverProcess(42);
    RecordingConnectionListener l = new RecordingConnectionListener();
    ConnectionManager cm = manager(l);
    await().atMost(Duration.ofSeconds(10)).until(() -> cm.serverState("querynode", 41) == ServerState.READY
        && cm.serverState("querynode", 42) == ServerState.READY);
    // a hold of 3 s: the call is still in flight on 41 when it freezes, and completes on 42 once re-issued
    List<CompletableFuture<Status>> calls = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      calls.add(hold(cm.roleChannel("querynode"), 3000));
    }
    signal(first, "STOP");
    stopped.add(first);
    for (CompletableFuture<Status> c : calls) {
      assertThat(c.get(20, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.OK);
    }
    assertThat(cm.stats().reissued()).isPositive();
    assertThat(cm.serverState("querynode", 41)).isEqualTo(ServerState.DOWN);
  }
}
