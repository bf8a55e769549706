package io.connmgr.connection;

import io.connmgr.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.connmgr.testservers.EchoServer;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The connection manager over the in-memory registry and real Netty servers on loopback. */
@ExtendWith(LeakCheck.class)
class ConnectionManagerTest {

  private final InMemoryRegistry registry = InMemoryRegistry.create();
  private final List<EchoServer> servers = new ArrayList<>();
  private final List<ConnectionManager> managers = new ArrayList<>();

  @AfterEach
  void tearDown() {
    managers.forEach(ConnectionManager::close);
    servers.forEach(EchoServer::close);
    registry.close();
  }

  private EchoServer server(long id, String role) {
    EchoServer s = EchoServer.start(id, role);
    servers.add(s);
    return s;
  }

  private ConnectionManager manager(ConnectionOptions.Builder b) {
    ConnectionManager cm = ConnectionManager.create(b.build());
    managers.add(cm);
    return cm;
  }

  /** Registers a session under its own lease; returns the lease. */
  private long register(String role, long id, String address) {
    long lease = registry.kv().grantLease(Duration.ofSeconds(60));
    Session s = Session.builder(role, address).serverId(id).build();
    registry.kv().put(registry.layout().sessionKey(role, id), SessionCodec.encode(s), lease);
    return lease;
  }

  static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  static EchoResponse echo(Channel ch, String msg) {
    return EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS)
        .echo(EchoRequest.newBuilder().setMessage(msg).build());
  }

  /** Starts a Hold call that stays open until cancelled; the future completes with its final status. */
  static CompletableFuture<Status> hold(Channel ch, long holdMillis) {
    CompletableFuture<Status> done = new CompletableFuture<>();
    EchoServiceGrpc.newStub(ch).withDeadlineAfter(30, TimeUnit.SECONDS)
        .hold(HoldRequest.newBuilder().setHoldMillis(holdMillis).build(), new StreamObserver<>() {
          @Override
          public void onNext(EchoResponse value) {}

          @Override
          public void onError(Throwable t) {
            done.complete(Status.fromThrowable(t));
          }

          @Override
          public void onCompleted() {
            done.complete(Status.OK);
          }
        });
    return done;
  }

  @Test
  void startReturnsAtOnceAndDependenciesConnectInParallel() throws Exception {
    for (int i = 1; i <= 80; i++) {
      EchoServer s = server(i, "querynode");
      register("querynode", i, s.address());
    }
    for (int i = 81; i <= 100; i++) {
      register("querynode", i, "127.0.0.1:" + closedPort());
    }
    ConnectionManager cm = manager(ConnectionOptions.builder(registry).dependsOn("querynode")
        .retry(RetryPolicy.DEFAULT.withMaxAttempts(2).withBackoff(Duration.ofMillis(50), 2, Duration.ofMillis(100))));
    CompletableFuture<Void> started = cm.start();
    // start() returned without waiting on any connection; the snapshot is applied shortly after
    started.get(5, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(20)).until(() -> cm.stats().roles().get("querynode").ready() == 80);
    await().atMost(Duration.ofSeconds(20)).until(() -> cm.stats().roles().get("querynode").offline() == 20);
    assertThat(cm.state()).isEqualTo(ManagerState.HEALTHY);
    assertThat(echo(cm.channel("querynode", 42), "hi").getServerId()).isEqualTo(42);
    assertThat(cm.serverState("querynode", 90)).isEqualTo(ServerState.OFFLINE);
    StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
        () -> echo(cm.channel("querynode", 90), "hi"));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(e.getStatus().getDescription()).contains("querynode-90").contains("offline");
  }

  @Test
  void inFlightCallFailsAtOnceWhenTheSessionIsDeleted() throws Exception {
    EchoServer s = server(7, "querynode");
    long lease = register("querynode", 7, s.address());
    RecordingConnectionListener l = new RecordingConnectionListener();
    ConnectionManager cm = manager(ConnectionOptions.builder(registry).listener(l));
    cm.start().get(5, TimeUnit.SECONDS);
    CompletableFuture<Status> call = hold(cm.channel("querynode", 7), 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> s.inFlightHolds() == 1);

    registry.kv().revokeLease(lease);
    Status status = call.get(1, TimeUnit.SECONDS); // generous bound; the benchmark measures the real figure
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).isEqualTo("querynode-7 (" + s.address() + ") deregistered");
    await().atMost(Duration.ofSeconds(5)).until(() -> s.inFlightHolds() == 0);
    // new calls fail at once too
    assertThatThrownBy(() -> echo(cm.channel("querynode", 7), "again"))
        .isInstanceOfSatisfying(StatusRuntimeException.class,
            e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
    assertThat(cm.stats().failFastCancellations()).isEqualTo(1);
    await().until(() -> l.calls.contains("failedFast querynode-7 1"));
  }

  @Test
  void expiredLeaseSaysSo() throws Exception {
    EchoServer s = server(8, "querynode");
    long lease = register("querynode", 8, s.address());
    ConnectionManager cm = manager(ConnectionOptions.builder(registry));
    cm.start().get(5, TimeUnit.SECONDS);
    CompletableFuture<Status> call = hold(cm.channel("querynode", 8), 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> s.inFlightHolds() == 1);
    registry.kv().expireLease(lease);
    assertThat(call.get(1, TimeUnit.SECONDS).getDescription()).isEqualTo("querynode-8 (" + s.address()
        + ") lease expired");
  }

  @Test
  void stoppingDrainsCallsInFlightAndTakesNoNewOnes() throws Exception {
    EchoServer a = server(1, "querynode");
    EchoServer b = server(2, "querynode");
    register("querynode", 1, a.address());
    long leaseB = register("querynode", 2, b.address());
    ConnectionManager cm = manager(ConnectionOptions.builder(registry).dependsOn("querynode"));
    cm.start().get(5, TimeUnit.SECONDS);
    await().until(() -> cm.stats().roles().get("querynode").ready() == 2);
    CompletableFuture<Status> inFlight = hold(cm.channel("querynode", 2), 500);
    await().atMost(Duration.ofSeconds(5)).until(() -> b.inFlightHolds() == 1);

    Session stopping = Session.builder("querynode", b.address()).serverId(2).build().withStopping(true);
    registry.kv().put(registry.layout().sessionKey("querynode", 2), SessionCodec.encode(stopping), leaseB);
    await().until(() -> cm.serverState("querynode", 2) == ServerState.STOPPING);

    for (int i = 0; i < 10; i++) {
      assertThat(echo(cm.pick("querynode"), "x").getServerId()).isEqualTo(1);
    }
    assertThatThrownBy(() -> echo(cm.channel("querynode", 2), "new"))
        .hasMessageContaining("UNAVAILABLE").hasMessageContaining("is stopping");
    assertThat(inFlight.get(10, TimeUnit.SECONDS)).isEqualTo(Status.OK); // drained, not cut
  }

  @Test
  void aWithdrawnStoppingMakesTheServerReadyAgain() throws Exception {
    EchoServer s = server(6, "querynode");
    long lease = register("querynode", 6, s.address());
    ConnectionManager cm = manager(ConnectionOptions.builder(registry).dependsOn("querynode"));
    cm.start().get(5, TimeUnit.SECONDS);
    await().until(() -> cm.serverState("querynode", 6) == ServerState.READY);
    String key = registry.layout().sessionKey("querynode", 6);
    Session session = Session.builder("querynode", s.address()).serverId(6).build();
    registry.kv().put(key, SessionCodec.encode(session.withStopping(true)), lease);
    await().until(() -> cm.serverState("querynode", 6) == ServerState.STOPPING);
    registry.kv().put(key, SessionCodec.encode(session), lease);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverState("querynode", 6) == ServerState.READY);
    assertThat(cm.stats().roles().get("querynode").ready()).isEqualTo(1);
    assertThat(echo(cm.pick("querynode"), "x").getServerId()).isEqualTo(6);
  }

  @Test
  void retryStopsAfterTheConfiguredAttemptsAndResumesOnReRegistration() throws Exception {
    FakeScheduler clock = new FakeScheduler();
    int port = closedPort();
    register("querynode", 3, "127.0.0.1:" + port);
    RecordingConnectionListener l = new RecordingConnectionListener();
    RetryPolicy policy = new RetryPolicy(3, Duration.ofSeconds(1), Duration.ofSeconds(2), 2.0,
        Duration.ofSeconds(10), 0.0);
    ConnectionManager cm = manager(ConnectionOptions.builder(registry).dependsOn("querynode").retry(policy)
        .scheduler(clock).ticker(clock.ticker()).listener(l));
    cm.start().get(5, TimeUnit.SECONDS);

    await().until(() -> l.count("connectFailed") == 1);
    assertThat(l.count("connectStarted")).isEqualTo(1);
    clock.advance(Duration.ofMillis(1999)); // backoff is 2 s: nothing yet
    assertThat(l.count("connectStarted")).isEqualTo(1);
    clock.advance(Duration.ofMillis(1));
    await().until(() -> l.count("connectFailed") == 2);
    clock.advance(Duration.ofSeconds(4));
    await().until(() -> l.count("offline") == 1);
    assertThat(l.count("connectStarted")).isEqualTo(3);
    assertThat(cm.serverState("querynode", 3)).isEqualTo(ServerState.OFFLINE);
    assertThat(cm.stats().connectAttempts()).isEqualTo(3);
    assertThat(cm.stats().retries()).isEqualTo(2);

    clock.advance(Duration.ofMinutes(10)); // no spinning while offline
    clock.advance(Duration.ofHours(1));
    assertThat(cm.stats().connectAttempts()).isEqualTo(3);
    assertThat(l.count("connectStarted")).isEqualTo(3);

    // the server comes back on a port that listens, and re-registers: a new episode, no caller action
    EchoServer s = server(3, "querynode");
    register("querynode", 3, s.address());
    await().atMost(Duration.ofSeconds(10)).until(() -> cm.serverState("querynode", 3) == ServerState.READY);
    assertThat(echo(cm.channel("querynode", 3), "back").getServerId()).isEqualTo(3);
  }

  @Test
  void aServerThatDiesIsMarkedDownAtOnceAndRestoredWhenItComesBack() throws Exception {
    EchoServer s = server(4, "querynode");
    int port = s.port();
    register("querynode", 4, s.address());
    RecordingConnectionListener l = new RecordingConnectionListener();
    ConnectionManager cm = manager(ConnectionOptions.builder(registry).dependsOn("querynode").listener(l)
        .retry(RetryPolicy.DEFAULT.withBackoff(Duration.ofMillis(100), 2, Duration.ofMillis(500))
            .withMaxAttempts(20)));
    cm.start().get(5, TimeUnit.SECONDS);
    await().until(() -> cm.serverState("querynode", 4) == ServerState.READY);
    CompletableFuture<Status> call = hold(cm.channel("querynode", 4), 0);
    await().until(() -> s.inFlightHolds() == 1);

    s.kill(); // the connection resets, the session is still there
    assertThat(call.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.serverState("querynode", 4) != ServerState.READY);
    assertThat(cm.stats().roles().get("querynode").ready()).isZero();

    EchoServer again = EchoServer.start(4, "querynode", port);
    servers.add(again);
    await().atMost(Duration.ofSeconds(15)).until(() -> cm.serverState("querynode", 4) == ServerState.READY);
    assertThat(echo(cm.pick("querynode"), "back").getServerId()).isEqualTo(4);
    assertThat(l.calls).contains("down querynode-4", "restored querynode-4");
  }

  @Test
  void activeFollowsTheExclusiveRolesKey() throws Exception {
    EchoServer one = server(1, "rootcoord");
    EchoServer two = server(2, "rootcoord");
    ConnectionManager cm = manager(ConnectionOptions.builder(registry));
    cm.start().get(5, TimeUnit.SECONDS);
    assertThatThrownBy(() -> echo(cm.active("rootcoord"), "x"))
        .hasMessageContaining("UNAVAILABLE: no active server of role rootcoord");
    var r1 = registry.register(Session.builder("rootcoord", one.address()).serverId(1).exclusive(true).build(),
        Duration.ofSeconds(30), io.connmgr.discovery.RegistrationListener.NONE).get();
    var r2 = registry.register(Session.builder("rootcoord", two.address()).serverId(2).exclusive(true).build(),
        Duration.ofSeconds(30), io.connmgr.discovery.RegistrationListener.NONE).get();
    assertThat(r1.active()).isTrue();
    await().until(() -> {
      try {
        return echo(cm.active("rootcoord"), "x").getServerId() == 1;
      } catch (StatusRuntimeException e) {
        return false;
      }
    });
    r1.closeAsync().get(5, TimeUnit.SECONDS);
    // the standby takes the key (as a leader election would)
    registry.kv().put(registry.layout().activeKey("rootcoord"), SessionCodec.encode(r2.session()));
    await().until(() -> {
      try {
        return echo(cm.active("rootcoord"), "x").getServerId() == 2;
      } catch (StatusRuntimeException e) {
        return false;
      }
    });
  }

  @Test
  void callsCarryTheServerIdHeader() throws Exception {
    EchoServer s = server(9, "datanode");
    register("datanode", 9, s.address());
    ConnectionManager cm = manager(ConnectionOptions.builder(registry));
    cm.start().get(5, TimeUnit.SECONDS);
    echo(cm.channel("datanode", 9), "x");
    assertThat(s.lastServerIdHeader()).isEqualTo("9");
  }

  @Test
  void aThrowingListenerChangesNothing() throws Exception {
    EchoServer s = server(5, "querynode");
    long lease = register("querynode", 5, s.address());
    ConnectionListener bad = new ConnectionListener() {
      @Override
      public void connectSucceeded(ServerKey server, Duration took) {
        throw new IllegalStateException("listener bug");
      }

      @Override
      public void removed(ServerKey server, String reason) {
        throw new IllegalStateException("listener bug");
      }

      @Override
      public void stateChanged(ManagerState from, ManagerState to) {
        throw new IllegalStateException("listener bug");
      }
    };
    ConnectionManager cm = manager(ConnectionOptions.builder(registry).dependsOn("querynode").listener(bad));
    cm.start().get(5, TimeUnit.SECONDS);
    await().until(() -> cm.serverState("querynode", 5) == ServerState.READY);
    assertThat(cm.state()).isEqualTo(ManagerState.HEALTHY);
    CompletableFuture<Status> call = hold(cm.channel("querynode", 5), 0);
    await().until(() -> s.inFlightHolds() == 1);
    registry.kv().revokeLease(lease);
    assertThat(call.get(1, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    await().until(() -> cm.state() == ManagerState.ABNORMAL);
  }

  @Test
  void watchClientsSeesTheRoleChange() throws Exception {
    List<List<ServerClient>> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
    ConnectionManager cm = manager(ConnectionOptions.builder(registry));
    cm.start().get(5, TimeUnit.SECONDS);
    cm.watchClients("indexnode", seen::add);
    EchoServer s = server(11, "indexnode");
    long lease = register("indexnode", 11, s.address());
    await().until(() -> !seen.isEmpty() && seen.get(seen.size() - 1).size() == 1);
    assertThat(cm.clients("indexnode")).extracting(c -> c.key().serverId()).containsExactly(11L);
    registry.kv().revokeLease(lease);
    await().until(() -> seen.get(seen.size() - 1).isEmpty());
  }

  @Test
  void invalidOptionsNameTheField() {
    assertThatThrownBy(() -> ConnectionOptions.builder(registry).maxChannels(0)).hasMessageStartingWith("maxChannels:");
    assertThatThrownBy(() -> ConnectionOptions.builder(registry).idleTimeout(Duration.ZERO))
        .hasMessageStartingWith("idleTimeout:");
    assertThatThrownBy(() -> ConnectionOptions.builder(registry).dependsOn(" ")).hasMessageStartingWith("dependsOn:");
    assertThatThrownBy(() -> RetryPolicy.DEFAULT.withMaxAttempts(0)).hasMessageStartingWith("retry.maxAttempts:");
    assertThatThrownBy(() -> new RetryPolicy(3, Duration.ofSeconds(1), Duration.ofSeconds(1), 2, Duration.ofSeconds(1),
        1.5)).hasMessageStartingWith("retry.jitter:");
  }

  @Test
  void unknownServerFailsAtOnceNamingIt() throws Exception {
    ConnectionManager cm = manager(ConnectionOptions.builder(registry));
    cm.start().get(5, TimeUnit.SECONDS);
    assertThatThrownBy(() -> echo(cm.channel("querynode", 77), "x"))
        .hasMessage("UNAVAILABLE: querynode-77 is not a known server");
    assertThatThrownBy(() -> echo(cm.pick("querynode"), "x"))
        .hasMessage("UNAVAILABLE: no available server of role querynode");
  }
}
