package io.connmgr.connection;

import static io.connmgr.connection.ConnectionManagerTest.echo;
import static io.connmgr.connection.ConnectionManagerTest.hold;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.Discovery;
import io.connmgr.discovery.DiscoveryException;
import io.connmgr.discovery.DiscoveryStats;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Leader;
import io.connmgr.discovery.Registration;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.SessionSnapshot;
import io.connmgr.discovery.Subscription;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testservers.EchoServer;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** {@code active(role)}: following the active key, failing calls to a former active server, the standby signal. */
@ExtendWith(LeakCheck.class)
class ActiveTest {

  private static final String ROLE = "rootcoord";

  private final TestCluster cluster = new TestCluster(ROLE);
  private final InMemoryRegistry registry = cluster.registry;
  private final Map<Long, EchoServer> servers = cluster.servers;
  private final RecordingConnectionListener listener = new RecordingConnectionListener();

  @AfterEach
  void tearDown() throws Exception {
    cluster.close();
  }

  private Session server(long id) {
    cluster.server(id, true);
    return cluster.sessions.get(id);
  }

  private void makeActive(long id, Session session) {
    cluster.makeActive(id, session);
  }

  private ConnectionManager manager(Discovery d) throws Exception {
    return cluster.manager(ConnectionOptions.builder(d).dependsOn(ROLE).listener(listener));
  }

  @Test
  void activeFollowsTheActiveKeyAndCallsInFlightToTheFormerActiveFailAtOnce() throws Exception {
    Session one = server(1);
    Session two = server(2);
    makeActive(1, one);
    ConnectionManager cm = manager(registry);
    await().atMost(Duration.ofSeconds(5)).until(() -> echo(cm.active(ROLE), "a").getServerId() == 1);
    CompletableFuture<Status> held = hold(cm.active(ROLE), 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> servers.get(1L).inFlightHolds() == 1);

    makeActive(2, two); // a takeover: the key now names server 2
    Status status = held.get(5, TimeUnit.SECONDS);
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).contains("rootcoord-1").contains("no longer the active rootcoord");
    // the next calls go to server 2 once the role's new view is published (in the instant before, a call on the old
    // view fails at once with the same status rather than reach the former active)
    await().atMost(Duration.ofSeconds(5)).until(() -> {
      try {
        return echo(cm.active(ROLE), "b").getServerId() == 2;
      } catch (io.grpc.StatusRuntimeException e) {
        assertThat(e.getStatus().getDescription()).contains("no longer the active rootcoord");
        return false;
      }
    });
    // a re-pointed key: the former active loses it, then the new one has it
    await().atMost(Duration.ofSeconds(5))
        .until(() -> listener.calls.containsAll(List.of("active rootcoord 1 -> -", "active rootcoord - -> 2")));
    // server 1 is still a live server: its own channel works
    assertThat(echo(cm.channel(ROLE, 1), "c").getServerId()).isEqualTo(1);
  }

  @Test
  void withoutAnActiveKeyCallsFailAtOnceSayingSo() throws Exception {
    server(1);
    ConnectionManager cm = manager(registry);
    Status status = hold(cm.active(ROLE), 0).get(5, TimeUnit.SECONDS);
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).isEqualTo("no active server of role rootcoord is known");
  }

  @Test
  void aStandbyReplyMakesTheClientReadTheActiveKeyAgainAndFollowIt() throws Exception {
    Session one = server(1);
    Session two = server(2);
    makeActive(1, one);
    // etcd's truth (what a fresh read says) has moved on to server 2 while this client's watch has not
    AtomicInteger reads = new AtomicInteger();
    Discovery lagging = new ForwardingDiscovery(registry, role -> {
      reads.incrementAndGet();
      return CompletableFuture.completedFuture(new Leader(ROLE, 2, two.address(), 99, two));
    });
    ConnectionManager cm = manager(lagging);
    await().atMost(Duration.ofSeconds(5)).until(() -> echo(cm.active(ROLE), "a").getServerId() == 1);

    servers.get(1L).failCalls(1.0, Status.UNAVAILABLE.withDescription("not serving, reason: StandBy"));
    Status status = hold(cm.active(ROLE), 0).get(5, TimeUnit.SECONDS);
    assertThat(status.getDescription()).contains("StandBy");
    await().atMost(Duration.ofSeconds(5)).until(() -> {
      try {
        return echo(cm.active(ROLE), "b").getServerId() == 2;
      } catch (io.grpc.StatusRuntimeException e) {
        return false;
      }
    });
    assertThat(reads.get()).isPositive();
    await().atMost(Duration.ofSeconds(5))
        .until(() -> listener.calls.containsAll(List.of("active rootcoord 1 -> -", "active rootcoord - -> 2")));
  }

  @Test
  void aReplyWithoutTheStandbySignalChangesNothing() throws Exception {
    Session one = server(1);
    server(2);
    makeActive(1, one);
    AtomicInteger reads = new AtomicInteger();
    ConnectionManager cm = manager(new ForwardingDiscovery(registry, role -> {
      reads.incrementAndGet();
      return registry.leader(role);
    }));
    await().atMost(Duration.ofSeconds(5)).until(() -> echo(cm.active(ROLE), "a").getServerId() == 1);
    servers.get(1L).failCalls(1.0, Status.UNAVAILABLE.withDescription("overloaded"));
    assertThat(hold(cm.active(ROLE), 0).get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    servers.get(1L).failCalls(0, Status.OK.withDescription("-"));
    assertThat(echo(cm.active(ROLE), "b").getServerId()).isEqualTo(1);
    assertThat(reads.get()).isZero();
  }

  @Test
  void leaderReadsTheActiveKeyOrSaysExactlyWhatIsMissing() throws Exception {
    Session one = server(1);
    ConnectionManager cm = manager(registry);
    assertThatThrownBy(() -> cm.leader(ROLE).get(5, TimeUnit.SECONDS))
        .hasCauseInstanceOf(DiscoveryException.class)
        .satisfies(e -> assertThat(((DiscoveryException) e.getCause()).code())
            .isEqualTo(DiscoveryException.Code.NO_LEADER));
    makeActive(1, one);
    Leader leader = cm.leader(ROLE).get(5, TimeUnit.SECONDS);
    assertThat(leader.serverId()).isEqualTo(1);
    assertThat(leader.address()).isEqualTo(one.address());
    assertThat(leader.revision()).isPositive();
  }

  @Test
  void activeFollowsRegistrarsCampaigningForTheRole() throws Exception {
    List<Registration> regs = new ArrayList<>();
    for (long id = 1; id <= 2; id++) {
      EchoServer s = EchoServer.start(id, ROLE);
      servers.put(id, s);
      regs.add(registry.register(Session.builder(ROLE, s.address()).serverId(id).exclusive(true).build(),
          Duration.ofSeconds(10), RegistrationListener.NONE).get(5, TimeUnit.SECONDS));
    }
    Registration leader = regs.get(0).active() ? regs.get(0) : regs.get(1);
    Registration standby = leader == regs.get(0) ? regs.get(1) : regs.get(0);
    ConnectionManager cm = manager(registry);
    await().atMost(Duration.ofSeconds(5)).until(() -> echo(cm.active(ROLE), "a").getServerId()
        == leader.session().serverId());
    leader.closeAsync().get(5, TimeUnit.SECONDS); // Stopping, then its keys go; the standby takes the active key
    await().atMost(Duration.ofSeconds(5)).until(standby::active);
    await().atMost(Duration.ofSeconds(5)).until(() -> {
      try {
        return echo(cm.active(ROLE), "b").getServerId() == standby.session().serverId();
      } catch (io.grpc.StatusRuntimeException e) {
        return false;
      }
    });
    standby.closeAsync().get(5, TimeUnit.SECONDS);
  }

  /** A discovery over another whose leader reads are the test's. */
  private static final class ForwardingDiscovery implements Discovery {
    private final Discovery delegate;
    private final Function<String, CompletableFuture<Leader>> leader;

    ForwardingDiscovery(Discovery delegate, Function<String, CompletableFuture<Leader>> leader) {
      this.delegate = delegate;
      this.leader = leader;
    }

    @Override
    public CompletableFuture<SessionSnapshot> snapshot(String role) {
      return delegate.snapshot(role);
    }

    @Override
    public Subscription subscribeRoles(Set<String> roles, SessionListener listener, Executor executor) {
      return delegate.subscribeRoles(roles, listener, executor);
    }

    @Override
    public CompletableFuture<Leader> leader(String role) {
      return leader.apply(role);
    }

    @Override
    public KeyLayout layout() {
      return delegate.layout();
    }

    @Override
    public DiscoveryStats stats() {
      return delegate.stats();
    }

    @Override
    public void close() {}
  }
}
