package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.internal.Backoff;
import io.connmgr.discovery.internal.EtcdLeases;
import io.connmgr.discovery.internal.LeaseBackend;
import io.connmgr.discovery.internal.SessionRegistration;
import io.connmgr.discovery.internal.Threads;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testservers.ChildJvm;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.PutOption;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link LeadershipConformanceTest} on one real etcd member (raw writes with a plain jetcd client), plus what only
 * etcd has: an unreachable backend, the watches a campaign opens, and registrar processes killed with kill -9.
 */
class EtcdLeadershipTest extends LeadershipConformanceTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember();

  private static Client writer;

  @BeforeAll
  static void connect() throws Exception {
    writer = etcd.newClient();
    // jetcd opens its channel on first use: open it now, so the leak check's baseline counts it
    writer.getKVClient().get(bytes("warm-up")).get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void disconnect() {
    writer.close();
  }

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  @Override
  protected Backend newBackend(String root) {
    EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(root)
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(500)).build();
    return new Backend() {
      @Override
      public Discovery discovery() {
        return discovery;
      }

      @Override
      public Registry registry() {
        return discovery;
      }

      @Override
      public void putRaw(String key, byte[] value) {
        try {
          writer.getKVClient().put(bytes(key), ByteSequence.from(value)).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }

      @Override
      public long putRawOnNewLease(String key, byte[] value) {
        try {
          long lease = writer.getLeaseClient().grant(30).get(10, TimeUnit.SECONDS).getID();
          writer.getKVClient().put(bytes(key), ByteSequence.from(value),
              PutOption.builder().withLeaseId(lease).build()).get(10, TimeUnit.SECONDS);
          return lease;
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }

      @Override
      public void deleteRaw(String key) {
        try {
          writer.getKVClient().delete(bytes(key)).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }

      @Override
      public void revokeRaw(long lease) {
        try {
          writer.getLeaseClient().revoke(lease).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }

      @Override
      public void close() {
        discovery.close();
      }
    };
  }

  @Test
  void leaderFailsUnavailableWhenEtcdIsUnreachable() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort(); // closed again: nothing listens there
    }
    try (EtcdDiscovery nowhere = EtcdDiscovery.builder().endpoints("http://127.0.0.1:" + port).root(root)
        .connectTimeout(Duration.ofSeconds(1)).build()) {
      DiscoveryException e = failure(nowhere.leader(ROLE));
      assertThat(e.code()).isEqualTo(DiscoveryException.Code.UNAVAILABLE);
      assertThat(e.getMessage()).contains(root + ROLE);
    }
  }

  /** etcd killed and restarted under a leader and a standby: the standby's campaign goes on and takes over later. */
  @Test
  void aStandbyKeepsCampaigningAcrossAnEtcdRestart() throws Exception {
    LeadershipRecorder lb = new LeadershipRecorder();
    Registration a = register(exclusive(1), RegistrationListener.NONE);
    Registration b = register(exclusive(2), lb);
    assertThat(a.active()).isTrue();
    etcd.kill(0);
    etcd.start(0);
    await().atMost(WAIT).until(() -> leaderId() == 1);
    a.closeAsync().get(30, TimeUnit.SECONDS);
    await().atMost(WAIT).until(b::active);
    await().atMost(WAIT).until(() -> leaderId() == 2);
    assertThat(lb.acquired()).isEqualTo(1);
  }

  /** Every watch the campaigns open is closed once their registrations are: none is left running. */
  @Test
  void campaignsLeaveNoWatchOpenOnceClosed() throws Exception {
    ScheduledExecutorService scheduler = Threads.daemonScheduler("connmgr-test-leases");
    try (Client client = etcd.newClient()) {
      CountingLeases leases = new CountingLeases(new EtcdLeases(client, scheduler));
      Backoff backoff = new Backoff(Duration.ofMillis(20), Duration.ofMillis(500));
      KeyLayout layout = KeyLayout.withRoot(root);
      Registration a = SessionRegistration.register(leases, layout, exclusive(1), 5, RegistrationListener.NONE,
          backoff).get(10, TimeUnit.SECONDS);
      Registration b = SessionRegistration.register(leases, layout, exclusive(2), 5, RegistrationListener.NONE,
          backoff).get(10, TimeUnit.SECONDS);
      Registration c = SessionRegistration.register(leases, layout, exclusive(3), 5, RegistrationListener.NONE,
          backoff).get(10, TimeUnit.SECONDS);
      await().atMost(WAIT).until(() -> leases.open.get() == 3); // the leader's and two standbys'
      a.stepDown().get(10, TimeUnit.SECONDS);
      await().atMost(WAIT).until(() -> b.active() || c.active());
      await().atMost(WAIT).until(() -> leases.open.get() == 2); // a campaigns no more
      b.closeAsync().get(10, TimeUnit.SECONDS);
      c.closeAsync().get(10, TimeUnit.SECONDS);
      a.closeAsync().get(10, TimeUnit.SECONDS);
      assertThat(leases.open.get()).isZero();
      assertThat(leases.opened.get()).isGreaterThanOrEqualTo(4);
    } finally {
      scheduler.shutdown();
    }
  }

  /** A leader marking itself Stopping never overwrites an active key another lease holds now. */
  @Test
  void theActiveKeyIsRePutOnlyWhileItIsStillOnTheSameLease() throws Exception {
    ScheduledExecutorService scheduler = Threads.daemonScheduler("connmgr-test-leases");
    try (Client client = etcd.newClient()) {
      EtcdLeases leases = new EtcdLeases(client, scheduler);
      String key = root + "putIfHeld";
      long mine = leases.grant(10).get(10, TimeUnit.SECONDS);
      long theirs = leases.grant(10).get(10, TimeUnit.SECONDS);
      byte[] ours = "ours".getBytes(StandardCharsets.UTF_8);
      assertThat(leases.putIfHeld(key, ours, mine).get(10, TimeUnit.SECONDS)).isFalse(); // absent
      assertThat(leases.claim(key, ours, mine).get(10, TimeUnit.SECONDS).acquired()).isTrue();
      assertThat(leases.putIfHeld(key, "stopping".getBytes(StandardCharsets.UTF_8), mine).get(10, TimeUnit.SECONDS))
          .isTrue();
      client.getKVClient().put(ByteSequence.from(key, StandardCharsets.UTF_8),
          ByteSequence.from("theirs", StandardCharsets.UTF_8), PutOption.builder().withLeaseId(theirs).build())
          .get(10, TimeUnit.SECONDS); // another server took the key
      assertThat(leases.putIfHeld(key, ours, mine).get(10, TimeUnit.SECONDS)).isFalse();
      assertThat(client.getKVClient().get(ByteSequence.from(key, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS)
          .getKvs().get(0).getValue().toString(StandardCharsets.UTF_8)).isEqualTo("theirs");
      leases.revoke(mine).get(10, TimeUnit.SECONDS);
      leases.revoke(theirs).get(10, TimeUnit.SECONDS);
    } finally {
      scheduler.shutdown();
    }
  }

  /** Two registrar processes, TTL 2 s: the leader is killed with kill -9, the standby leads within TTL + margin. */
  @Test
  void aStandbyProcessLeadsOnceTheLeaderProcessIsKilled() throws Exception {
    String endpoint = etcd.clientEndpoint(0);
    try (ChildJvm first = ChildJvm.start(RegistrarMain.class, endpoint, root, ROLE, "1", "2", "22001", "exclusive")) {
      assertThat(first.awaitLine("ACQUIRED", Duration.ofSeconds(60))).isEqualTo("ACQUIRED " + ROLE + "-1");
      try (ChildJvm second = ChildJvm.start(RegistrarMain.class, endpoint, root, ROLE, "2", "2", "22002",
          "exclusive")) {
        assertThat(second.awaitLine("REGISTERED", Duration.ofSeconds(60))).isEqualTo("REGISTERED " + root + ROLE
            + "-2");
        assertThat(second.lines()).noneMatch(l -> l.startsWith("ACQUIRED"));
        assertThat(leader().serverId()).isEqualTo(1);

        long killed = System.nanoTime();
        first.kill();
        String line = second.awaitLine("ACQUIRED", Duration.ofSeconds(2 + 5));
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed);
        assertThat(line).isEqualTo("ACQUIRED " + ROLE + "-2");
        assertThat(tookMs).as("standby acquired %d ms after kill -9 (TTL 2 s)", tookMs).isLessThan(2_000 + 5_000);
        Leader l = leader();
        assertThat(l.serverId()).isEqualTo(2);
        assertThat(l.address()).isEqualTo("127.0.0.1:22002");
      }
    }
  }

  /** A {@link LeaseBackend} that counts the watches opened and not yet closed. */
  private static final class CountingLeases implements LeaseBackend {
    final AtomicInteger open = new AtomicInteger();
    final AtomicInteger opened = new AtomicInteger();
    private final LeaseBackend delegate;

    CountingLeases(LeaseBackend delegate) {
      this.delegate = delegate;
    }

    @Override
    public AutoCloseable watch(String key, long fromRevision, KeyWatcher watcher) {
      AutoCloseable w = delegate.watch(key, fromRevision, watcher);
      open.incrementAndGet();
      opened.incrementAndGet();
      AtomicBoolean closed = new AtomicBoolean();
      return () -> {
        if (closed.compareAndSet(false, true)) {
          open.decrementAndGet();
        }
        w.close();
      };
    }

    @Override
    public CompletableFuture<Long> grant(long ttlSeconds) {
      return delegate.grant(ttlSeconds);
    }

    @Override
    public CompletableFuture<Created> create(String sessionKey, String activeKey, byte[] value, long lease,
        long previousLease) {
      return delegate.create(sessionKey, activeKey, value, lease, previousLease);
    }

    @Override
    public CompletableFuture<Claim> claim(String key, byte[] value, long lease) {
      return delegate.claim(key, value, lease);
    }

    @Override
    public CompletableFuture<Boolean> release(String key, long lease) {
      return delegate.release(key, lease);
    }

    @Override
    public CompletableFuture<Boolean> putIfHeld(String key, byte[] value, long lease) {
      return delegate.putIfHeld(key, value, lease);
    }

    @Override
    public CompletableFuture<Void> put(List<String> keys, byte[] value, long lease) {
      return delegate.put(keys, value, lease);
    }

    @Override
    public CompletableFuture<Void> revoke(long lease) {
      return delegate.revoke(lease);
    }

    @Override
    public AutoCloseable keepAlive(long lease, long ttlSeconds, Consumer<Throwable> onLost) {
      return delegate.keepAlive(lease, ttlSeconds, onLost);
    }

    @Override
    public ScheduledExecutorService scheduler() {
      return delegate.scheduler();
    }
  }
}
