package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionListener;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ManagerState;
import io.connmgr.connection.ServerKey;
import io.connmgr.discovery.Discovery;
import io.connmgr.discovery.DiscoveryStats;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.SessionSnapshot;
import io.connmgr.discovery.Subscription;
import io.connmgr.testservers.EchoServer;
import io.grpc.Status;
import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * Fail-fast in a storm: 10,000 sessions of one role in etcd, one of them (id 1) naming a real {@link EchoServer} with a
 * {@code Hold} call in flight on {@code cm.channel(role, 1)}. The client's {@link EtcdDiscovery} reaches etcd only
 * through an in-process {@link TcpProxy}; the proxy is cut (every connection closed, new ones refused) and, while the
 * client is cut off, all 9,999 other sessions are re-registered under a new lease with new ports (each a new instance
 * of its server), server 1's session is deleted and etcd's history is compacted, so that when the proxy is restored
 * the client cannot resume its watch and must re-list: 10,000 changes at once, one of which is the removal that must
 * fail the held call.
 *
 * <p>Measured: from the moment connmgr's subscription has the re-list in hand (etcd's answer received and diffed
 * against the previous view: the first event of the re-list reaching the manager) until the held call's observer sees
 * it fail. That instant is taken on the manager's own subscription, through a delegating {@link Discovery} that
 * stamps each event before passing it on (the manager runs unchanged over it), rather than on a second subscriber
 * through the same proxy: a second subscription reconnects on its own backoff timer, and the difference between the
 * two reconnections would swamp what is measured. Also reported: restore → re-list in hand (reconnect, list, decode;
 * bounded by the retry backoff), and re-list in hand → the manager has applied all of it ({@code onSynced}).
 */
public final class FailFastStormScenario implements Scenario {

  static final String ROOT = "bench/storm/";
  static final String ROLE = "querynode";
  static final int SESSIONS = 10_000;
  static final long HELD = 1;
  private static final double GOAL_MS = 50;

  @Override
  public String name() {
    return "fail-fast-storm";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int warmup = 1;
    int reps = env.trials(3, 20);
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    String heldKey = layout.sessionKey(ROLE, HELD);
    Latency afterRelist = new Latency("re-list in hand → held call failed");
    Latency removedToFailed = new Latency("connmgr removed the server → held call failed");
    Latency restoreToRelist = new Latency("proxy restored → re-list in hand");
    Latency relistToSynced = new Latency("re-list in hand → all 10,000 changes applied (onSynced)");
    Latency storm = new Latency("writing the storm while cut off (re-puts, delete, compaction)");
    AtomicLong failedBeforeSynced = new AtomicLong();
    URI etcd = URI.create(env.endpoints().get(0));
    Stamps stamps = new Stamps();
    Counting listener = new Counting();

    try (EchoServer echo = EchoServer.start(HELD, ROLE);
        TcpProxy proxy = TcpProxy.start(etcd.getHost(), etcd.getPort())) {
      Session held = Session.builder(ROLE, echo.address()).serverId(HELD).build();
      long lease = env.lease(7200);
      long loadStart = System.nanoTime();
      putAll(env, layout, lease, 0, held, true);
      double loadMs = (System.nanoTime() - loadStart) / 1e6;
      EtcdDiscovery etcdDiscovery = EtcdDiscovery.builder().endpoints(proxy.endpoint()).layout(layout)
          .retryBackoff(Duration.ofMillis(50), Duration.ofMillis(500)).build();
      Stamped discovery = new Stamped(etcdDiscovery, stamps);
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).roles(ROLE)
          .listener(listener).build());
      try {
        cm.start().get(60, TimeUnit.SECONDS);
        for (int rep = -warmup; rep < reps; rep++) {
          boolean measured = rep >= 0;
          // the held call (server 1's channel opens on this first call: no dependsOn, nothing else connects)
          AtomicLong failedAt = new AtomicLong();
          AtomicReference<Status> failedWith = new AtomicReference<>();
          long h = echo.holdsStarted();
          Calls.hold(cm.channel(ROLE, HELD), 0, s -> {
            failedAt.set(System.nanoTime());
            failedWith.set(s);
          });
          Env.await(() -> echo.holdsStarted() == h + 1, "the held call on server 1");

          // cut the client off and write the storm
          Env.await(() -> cm.state() == ManagerState.HEALTHY, "the manager connected to etcd");
          proxy.cut();
          Env.await(() -> cm.state() == ManagerState.ABNORMAL, Duration.ofSeconds(30),
              "the manager to see etcd disconnected");
          long s0 = System.nanoTime();
          long next = env.lease(7200);
          putAll(env, layout, next, rep + warmup + 1, held, false);
          env.delete(heldKey);
          env.writer().getLeaseClient().revoke(lease).get(10, TimeUnit.SECONDS); // holds no key any more
          lease = next;
          env.etcd().compact();
          if (measured) {
            storm.record(System.nanoTime() - s0);
          }
          if (failedAt.get() != 0) {
            throw new IllegalStateException("the held call ended while the client was cut off: " + failedWith.get());
          }

          // let it back in
          long base = listener.repointed.sum();
          long resyncs = etcdDiscovery.stats().resyncs();
          listener.heldRemovedAt.set(0);
          stamps.arm();
          long restoredAt = System.nanoTime();
          proxy.restore();
          Env.await(() -> failedAt.get() != 0 && stamps.syncedAt.get() != 0
                  && listener.repointed.sum() >= base + SESSIONS - 1 && listener.heldRemovedAt.get() != 0,
              Duration.ofSeconds(120), "the re-list after the storm");
          DiscoveryStats st = etcdDiscovery.stats();
          if (st.resyncs() != resyncs + 1) {
            throw new IllegalStateException("expected exactly one re-list, saw " + (st.resyncs() - resyncs));
          }
          if (failedWith.get().getCode() != Status.Code.UNAVAILABLE) {
            throw new IllegalStateException("the held call ended with " + failedWith.get());
          }
          long relistAt = stamps.firstEventAt.get();
          if (failedAt.get() < relistAt) {
            throw new IllegalStateException("the held call failed before the re-list reached the manager");
          }
          if (measured) {
            afterRelist.record(failedAt.get() - relistAt);
            removedToFailed.record(failedAt.get() - listener.heldRemovedAt.get());
            restoreToRelist.record(relistAt - restoredAt);
            relistToSynced.record(stamps.syncedAt.get() - relistAt);
            if (failedAt.get() < stamps.syncedAt.get()) {
              failedBeforeSynced.incrementAndGet();
            }
          }

          // server 1 back for the next repetition
          env.put(heldKey, held, lease);
          Env.await(() -> cm.serverState(ROLE, HELD) != null, "server 1 known again");
        }
      } finally {
        cm.close();
        cm.awaitTermination(Duration.ofSeconds(30));
        etcdDiscovery.close();
        env.writer().getLeaseClient().revoke(lease).get(10, TimeUnit.SECONDS);
      }

      ObjectNode n = results.node("failFastStorm");
      n.put("sessions", SESSIONS);
      n.put("repetitions", reps);
      n.put("afterRelistMs", Results.round(afterRelist.p99Ms()));
      n.put("afterRelistP50Ms", Results.round(afterRelist.p50Ms()));
      n.put("failedBeforeAllApplied", failedBeforeSynced.get());
      n.put("loadIntoEtcdMs", Results.round(loadMs));
      afterRelist.writeTo(n.putObject("afterRelist"));
      removedToFailed.writeTo(n.putObject("removedToCallFailed"));
      restoreToRelist.writeTo(n.putObject("restoreToRelist"));
      relistToSynced.writeTo(n.putObject("relistToAllApplied"));
      storm.writeTo(n.putObject("stormWrite"));
    }

    double p99 = afterRelist.p99Ms();
    String all = count(SESSIONS);
    String others = count(SESSIONS - 1);
    results.section("Fail-fast in a storm: re-list of " + all + " changes → in-flight call failed",
        all + " sessions of one role in etcd; one names a real echo server with a `Hold` call in flight on "
            + "`cm.channel(role, id)`. The client's `EtcdDiscovery` reaches etcd through an in-process TCP proxy, "
            + "which is cut (connections closed, new ones refused); while the client is cut off, the other " + others
            + " sessions are re-registered under a new lease with new ports (each a new instance), the held server's "
            + "session is deleted and etcd's history is compacted, so that on reconnection the client must re-list "
            + "and apply " + all + " changes at once. " + reps + " repetitions after " + warmup + " warm-up. Time "
            + "from the re-list being in connmgr's hands (etcd's answer received and diffed by the manager's own "
            + "subscription: the first event of the re-list reaching the manager, stamped by a delegating "
            + "`Discovery` the manager runs over) to the held call's failure.")
        .row("re-list in hand → call failed (p50)", ms(afterRelist.p50Ms()), "", "", "", "")
        .row("re-list in hand → call failed (p99)", ms(p99), "", "", "≤ 50 ms",
            results.goal("failFastStorm.afterRelistMs (p99)", "≤ 50 ms", p99, "ms", p99 <= GOAL_MS))
        .row("connmgr removed the server → call failed (p50 / p99)",
            ms(removedToFailed.p50Ms()) + " / " + ms(removedToFailed.p99Ms()), "", "", "", "")
        .row("re-list in hand → all " + all + " changes applied (p50 / p99)",
            ms(relistToSynced.p50Ms()) + " / " + ms(relistToSynced.p99Ms()), "", "", "", "")
        .row("proxy restored → re-list in hand (p50 / max)",
            ms(restoreToRelist.p50Ms()) + " / " + ms(restoreToRelist.maxMs()), "", "", "", "")
        .note("Why not a second subscriber's `onSynced` through the same proxy as the reference: each subscription "
            + "(and jetcd's channel under it) reconnects on its own backoff timer (the client's `EtcdDiscovery` "
            + "retries from 50 to 500 ms here; this only bounds restore → re-list, which is not the measured "
            + "figure), so two subscriptions re-list at moments up to that spread apart (see the last row). The "
            + "delegating `Discovery` stamps the manager's own re-list instead, at no cost to it (one `nanoTime` per "
            + "event). The re-list delivers removals first, so the call fails before the other changes are applied "
            + "(in " + failedBeforeSynced.get() + " of " + reps + " repetitions it failed before the manager's "
            + "`onSynced`). The removal cancels the call at once on the control thread, but grpc-java delivers the "
            + "failure to the call's observer on the call's executor (another thread), which competes for a core "
            + "with the control thread, busy applying the rest of the re-list: on 2 shared cores that delivery can "
            + "wait for most of the apply (the removed → call failed row; 0 when the observer ran before the "
            + "manager's listener). Writing the storm while cut off (" + others + " re-puts in 128-put "
            + "transactions, a delete, a physical compaction) took p50 " + ms(storm.p50Ms()) + ".");
  }

  private static String count(int n) {
    return String.format(Locale.ROOT, "%,d", n);
  }

  /**
   * Puts the {@value #SESSIONS} sessions under {@code lease} in 128-put transactions, 8 in flight: session 1 is
   * {@code held} (only if {@code includeHeld}), the others unreachable addresses whose port depends on
   * {@code generation}, so that each generation re-points every one of them.
   */
  private static void putAll(Env env, KeyLayout layout, long lease, int generation, Session held,
      boolean includeHeld) throws Exception {
    Map<String, Session> sessions = new LinkedHashMap<>();
    for (int id = 1; id <= SESSIONS; id++) {
      if (id == HELD) {
        if (includeHeld) {
          sessions.put(layout.sessionKey(ROLE, id), held);
        }
      } else {
        sessions.put(layout.sessionKey(ROLE, id), Session.builder(ROLE, "127.0.0.1:" + (1 + (id * 7 + generation)
            % 60_000)).serverId(id).hostName("node-" + id).version("2.4.0").build());
      }
    }
    env.putAll(sessions, lease);
  }


  /** The manager's listener: counts re-pointed instances, times server 1's removal. Control thread. */
  private static final class Counting extends ConnectionListener {
    final LongAdder repointed = new LongAdder();
    final AtomicLong heldRemovedAt = new AtomicLong();

    @Override
    public void removed(ServerKey server, String reason) {
      if (server.serverId() == HELD) {
        heldRemovedAt.set(System.nanoTime());
      } else if (reason.startsWith("re-registered")) {
        repointed.increment();
      }
    }
  }

  /** When the manager's subscription delivered its first event, and its {@code onSynced}, since {@link #arm()}. */
  private static final class Stamps {
    final AtomicLong firstEventAt = new AtomicLong();
    final AtomicLong syncedAt = new AtomicLong();
    volatile boolean armed;

    void arm() {
      firstEventAt.set(0);
      syncedAt.set(0);
      armed = true;
    }
  }

  /**
   * A {@link Discovery} that passes everything to {@code delegate}, and whose subscriptions stamp the first event and
   * the {@code onSynced} after {@link Stamps#arm()} (on the subscriber's own thread, just before passing them on).
   */
  private static final class Stamped implements Discovery {
    private final Discovery delegate;
    private final Stamps stamps;

    Stamped(Discovery delegate, Stamps stamps) {
      this.delegate = delegate;
      this.stamps = stamps;
    }

    @Override
    public CompletableFuture<SessionSnapshot> snapshot(String role) {
      return delegate.snapshot(role);
    }

    @Override
    public Subscription subscribeRoles(Set<String> roles, SessionListener listener, Executor executor) {
      return delegate.subscribeRoles(roles, new SessionListener() {
        @Override
        public void onEvent(SessionEvent event) {
          if (stamps.armed && stamps.firstEventAt.get() == 0) {
            stamps.firstEventAt.set(System.nanoTime());
          }
          listener.onEvent(event);
        }

        @Override
        public void onSynced(long revision) {
          if (stamps.armed && stamps.syncedAt.get() == 0) {
            stamps.syncedAt.set(System.nanoTime());
            stamps.armed = false;
          }
          listener.onSynced(revision);
        }

        @Override
        public void onDisconnected(Throwable cause) {
          listener.onDisconnected(cause);
        }

        @Override
        public void onReconnected() {
          listener.onReconnected();
        }
      }, executor);
    }

    @Override
    public java.util.concurrent.CompletableFuture<io.connmgr.discovery.Leader> leader(String role) {
      return delegate.leader(role);
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
    public void close() {
      delegate.close();
    }
  }
}
