package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionListener;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerKey;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The control plane alone: how fast connmgr's engine applies session events, and how long a deletion waits behind a
 * burst of them, with N = 1,000, 10,000 and 100,000 sessions (quick mode: 1,000 and 10,000), all of one role or spread
 * over 100 roles. No etcd and no connections: the sessions live in an {@link InMemoryRegistry} (written with
 * {@code registry.kv().put}, no leases) and the manager only tracks the role(s) ({@code roles(...)}, no
 * {@code dependsOn}), so no channel is ever opened; what is measured is the registry's delivery plus the engine.
 *
 * <ul>
 *   <li><b>events/s</b>: a burst of {@value #UPDATES} updates, each re-pointing a session to a new port (an UPDATED
 *       event naming a new instance: the old one is removed, a new one created), written back to back by one thread
 *       (values encoded beforehand), timed from the first write until the manager's
 *       {@link ConnectionListener#removed} has fired for the last re-pointed instance (it fires on the control thread
 *       as each event is applied; that thread stamps the time, the waiting thread only parks). Baseline, same
 *       registry, same kind of burst, run after the manager is closed (never at the same time): a plain subscriber of
 *       the same role(s) ({@code registry.subscribeRoles(roles, listener, null)}, delivered on the registry's thread
 *       as the manager's events are on its control thread) applying each event to a {@code HashMap<String,
 *       Session>}: the registry's own delivery cost, so the ratio is the engine's overhead.
 *   <li><b>burst-delete</b>: {@value #BURST} updates, then the deletion of a session that was not updated; timed from
 *       just before the {@code delete} until the manager's {@code removed} callback for that server (reason
 *       {@code deleted}), so it includes the wait behind the backlog. Baseline: the same, until the plain subscriber
 *       has applied the REMOVED.
 * </ul>
 */
public final class ControlPlaneScenario implements Scenario {

  static final int UPDATES = 20_000;
  static final int BURST = 2_000;
  private static final double GOAL_EVENTS_PER_SEC = 200_000;
  private static final double GOAL_FLAT_RATIO = 2.0;
  private static final double GOAL_BURST_DELETE_P99_MS = 20.0;
  private static final Duration BURST_TIMEOUT = Duration.ofSeconds(300);

  @Override
  public String name() {
    return "control-plane";
  }

  /** One measured configuration's figures. */
  private record Figures(int n, double[] rates, double[] baselineRates, Latency burstDelete,
      Latency baselineBurstDelete, double loadMs, double startMs, long[] gc, long[] baselineGc) {
    double eventsPerSec() {
      return median(rates);
    }

    double baselineEventsPerSec() {
      return median(baselineRates);
    }
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int[] sizes = env.quick() ? new int[] {1_000, 10_000} : new int[] {1_000, 10_000, 100_000};
    int rateReps = env.trials(3, 7);
    int deleteReps = env.trials(10, 50);
    ObjectNode cp = results.node("controlPlane");
    Results.Section s = results.section("Control plane: session events applied by the engine",
        "connmgr's engine alone, on an in-memory registry (no etcd, no connections: the manager tracks the role(s) "
            + "without `dependsOn`, so no channel is opened). N sessions of one role, or the same N spread over 100 "
            + "roles, written before `start()`. **events/s**: a burst of " + count(UPDATES) + " updates re-pointing "
            + "sessions to new ports (each an UPDATED naming a new instance: the old one is removed, a new one "
            + "created), written back to back by one thread (values encoded beforehand), timed from the first write "
            + "until the manager's `removed` callback (control thread, as the event is applied) has fired for all of "
            + "them; median of " + rateReps + " bursts, each started after a full GC, after one warm-up burst (and "
            + "two unrecorded warm-up configurations before the first: on 2 cores the JIT compiler threads otherwise "
            + "slow the first configuration measured by up to 2×). Baseline: the same bursts on the same registry "
            + "applied to a `HashMap<String, Session>` by a plain subscriber of the same role(s) (the registry's own "
            + "delivery cost, JSON decoding included; run after the manager is closed, never at the same time). "
            + "**burst-delete**: " + count(BURST) + " updates then the deletion of a session not updated, timed from "
            + "just before the delete until the manager's `removed` callback for it (reason `deleted`), so it "
            + "includes the wait behind the backlog; " + deleteReps + " trials per N after two warm-up ones. "
            + "Baseline: the same, until the plain subscriber has applied the REMOVED. Every burst's rate is in "
            + "`latest.json` (`details`).");
    // JIT warm-up of the registry's and the engine's paths before the first figure (on 2 cores, the compiler threads
    // would otherwise take CPU from the first configurations measured, and slow them by up to 2×)
    System.out.println("  control-plane: warm-up (not recorded)");
    measure(2_000, 1, env.trials(6, 10), 10);
    measure(2_000, 100, 3, 10);
    List<String> gcNotes = new ArrayList<>();
    for (int roles : new int[] {1, 100}) {
      ObjectNode base = roles == 1 ? cp : cp.putObject("roles100");
      List<Figures> all = new ArrayList<>();
      for (int n : sizes) {
        System.out.printf("  control-plane: %d role(s), N=%,d%n", roles, n);
        Figures f = measure(n, roles, rateReps, deleteReps);
        all.add(f);
        String k = key(n);
        obj(base, "eventsPerSec").put(k, Math.round(f.eventsPerSec()));
        obj(base, "baselineEventsPerSec").put(k, Math.round(f.baselineEventsPerSec()));
        obj(base, "burstDeleteP50Ms").put(k, Results.round(f.burstDelete.p50Ms()));
        obj(base, "burstDeleteP99Ms").put(k, Results.round(f.burstDelete.p99Ms()));
        obj(base, "baselineBurstDeleteP50Ms").put(k, Results.round(f.baselineBurstDelete.p50Ms()));
        obj(base, "baselineBurstDeleteP99Ms").put(k, Results.round(f.baselineBurstDelete.p99Ms()));
        ObjectNode d = obj(base, "details").putObject(k);
        d.put("sessions", n);
        d.put("roles", roles);
        d.put("updatesPerBurst", UPDATES);
        d.put("rateBursts", rateReps);
        d.put("loadMs", Results.round(f.loadMs));
        ArrayNode rates = d.putArray("eventsPerSecBursts");
        Arrays.stream(f.rates).forEach(r -> rates.add(Math.round(r)));
        ArrayNode baselineRates = d.putArray("baselineEventsPerSecBursts");
        Arrays.stream(f.baselineRates).forEach(r -> baselineRates.add(Math.round(r)));
        d.put("startMs", Results.round(f.startMs));
        f.burstDelete.writeTo(d.putObject("burstDelete")).put("gcCount", f.gc[0]).put("gcMs", f.gc[1]);
        f.baselineBurstDelete.writeTo(d.putObject("baselineBurstDelete")).put("gcCount", f.baselineGc[0])
            .put("gcMs", f.baselineGc[1]);
        gcNotes.add((roles == 1 ? "one role" : "100 roles") + ", N=" + count(n) + ": " + f.gc[0] + " / "
            + f.gc[1] + " ms (baseline " + f.baselineGc[0] + " / " + f.baselineGc[1] + " ms)");
      }
      report(results, s, roles, base, all);
    }
    s.note("Each update is a new instance of its server (new port), so it costs the engine a removal (its calls "
        + "failed, its pooled channel closed if any, the listener told) and a creation, plus its share of one "
        + "publication per drained batch. The flatness goal compares the smallest and the largest N of the run"
        + (env.quick() ? " (quick mode: 1,000 → 10,000; the published goal is 1,000 → 100,000)." : "."));
    s.note("Garbage collection (the JVM's defaults: G1, on 2 cores) pauses the applying thread too, and a pause "
        + "lands in a burst-delete trial whole: collections / their total time during the " + (deleteReps + 2)
        + " burst-delete trials (warm-up included) of each configuration: " + String.join("; ", gcNotes) + ".");
  }

  private static void report(Results results, Results.Section s, int roles, ObjectNode base, List<Figures> all) {
    String prefix = roles == 1 ? "controlPlane." : "controlPlane.roles100.";
    String label = roles == 1 ? "one role" : "100 roles";
    for (Figures f : all) {
      String k = key(f.n);
      double eps = f.eventsPerSec();
      s.row(label + ", N=" + count(f.n) + ": events/s", rate(eps),
          "HashMap subscriber " + rate(f.baselineEventsPerSec()), ratio(eps, f.baselineEventsPerSec()),
          "≥ 200,000/s", results.goal(prefix + "eventsPerSec." + k, "≥ 200,000/s", eps, "events/s",
              eps >= GOAL_EVENTS_PER_SEC));
      double p99 = f.burstDelete.p99Ms();
      s.row(label + ", N=" + count(f.n) + ": burst-delete p50 / p99",
          ms(f.burstDelete.p50Ms()) + " / " + ms(p99), "HashMap subscriber " + ms(f.baselineBurstDelete.p50Ms())
              + " / " + ms(f.baselineBurstDelete.p99Ms()), ratio(p99, f.baselineBurstDelete.p99Ms()),
          "p99 ≤ 20 ms", results.goal(prefix + "burstDeleteP99Ms." + k, "≤ 20 ms", p99, "ms",
              p99 <= GOAL_BURST_DELETE_P99_MS));
    }
    Figures small = all.get(0);
    Figures large = all.get(all.size() - 1);
    double flat = small.eventsPerSec() / large.eventsPerSec();
    String name = prefix + "eventsPerSec." + key(small.n) + " / " + key(large.n);
    base.put("flatRatio", Results.round(flat));
    s.row(label + ": events/s, N=" + count(small.n) + " ÷ N=" + count(large.n),
        ratio(small.eventsPerSec(), large.eventsPerSec()),
        "HashMap subscriber " + ratio(small.baselineEventsPerSec(), large.baselineEventsPerSec()), "", "≤ 2 (flat)",
        results.goal(name, "≤ 2", flat, "×", flat <= GOAL_FLAT_RATIO));
  }

  private static Figures measure(int n, int roleCount, int rateReps, int deleteReps) throws Exception {
    String[] roleNames = new String[roleCount];
    for (int r = 0; r < roleCount; r++) {
      roleNames[r] = roleCount == 1 ? "querynode" : String.format(Locale.ROOT, "role%02d", r);
    }
    Figures result;
    try (InMemoryRegistry registry = InMemoryRegistry.create()) {
      Sessions sessions = new Sessions(registry, n, roleNames);
      long t = System.nanoTime();
      for (int i = 0; i < n; i++) {
        registry.kv().put(sessions.keys[i], sessions.encode(i));
      }
      double loadMs = (System.nanoTime() - t) / 1e6;
      int victims = deleteReps + 2; // the last `victims` sessions are deleted (and put back) by burst-delete trials
      int updatable = n - victims;

      // ---- connmgr
      Progress progress = new Progress();
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(registry).roles(roleNames)
          .listener(new Counting(progress)).build());
      double startMs;
      double[] rates;
      long[] gc;
      Latency burstDelete = new Latency("connmgr: delete after a burst → removed");
      try {
        t = System.nanoTime();
        cm.start().get(120, TimeUnit.SECONDS);
        startMs = (System.nanoTime() - t) / 1e6;
        rates = rate(registry, sessions, updatable, rateReps, progress);
        long[] gc0 = gc();
        burstDeletes(registry, sessions, updatable, deleteReps, progress, burstDelete);
        gc = delta(gc0);
        Env.await(() -> cm.stats().roles().values().stream().mapToInt(r -> r.registered()).sum() == n,
            Duration.ofSeconds(30), "the manager to know " + n + " servers");
      } finally {
        cm.close();
        if (!cm.awaitTermination(Duration.ofSeconds(30))) {
          throw new IllegalStateException("connection manager did not terminate");
        }
      }

      // ---- baseline: a plain subscriber into a HashMap, on the same registry, after the manager is gone
      Progress baseline = new Progress();
      MapSubscriber map = new MapSubscriber(baseline);
      Subscription sub = registry.subscribeRoles(Set.of(roleNames), map, null);
      double[] baselineRates;
      long[] baselineGc;
      Latency baselineBurstDelete = new Latency("HashMap subscriber: delete after a burst → applied");
      try {
        Env.await(() -> map.synced, Duration.ofSeconds(120), "the baseline subscriber's initial listing");
        baselineRates = rate(registry, sessions, updatable, rateReps, baseline);
        long[] gc0 = gc();
        burstDeletes(registry, sessions, updatable, deleteReps, baseline, baselineBurstDelete);
        baselineGc = delta(gc0);
        Env.await(() -> map.size.get() == n, Duration.ofSeconds(30), "the baseline map to hold " + n + " sessions");
      } finally {
        sub.close();
      }
      result = new Figures(n, rates, baselineRates, burstDelete, baselineBurstDelete, loadMs, startMs, gc,
          baselineGc);
    }
    return result;
  }

  /**
   * The rates of {@code reps} bursts of {@link #UPDATES} re-pointing updates, after one warm-up burst: from just
   * before the first write until the applying thread stamped the last one.
   */
  private static double[] rate(InMemoryRegistry registry, Sessions sessions, int updatable, int reps,
      Progress progress) {
    double[] rates = new double[reps];
    for (int rep = -1; rep < reps; rep++) {
      Burst b = sessions.burst(UPDATES, updatable);
      progress.arm(UPDATES, -1);
      System.gc(); // every burst starts from the same, collected heap (its own garbage is collected as it runs)
      long t0 = System.nanoTime();
      b.write(registry);
      progress.await(false);
      if (rep >= 0) {
        rates[rep] = UPDATES / ((progress.reachedAt.get() - t0) / 1e9);
      }
    }
    return rates;
  }

  /** {@code reps} trials (after two warm-up ones) of a burst of {@link #BURST} updates, then one deletion. */
  private static void burstDeletes(InMemoryRegistry registry, Sessions sessions, int updatable, int reps,
      Progress progress, Latency out) {
    for (int rep = -2; rep < reps; rep++) {
      int victim = sessions.n - 1 - (rep + 2);
      Burst b = sessions.burst(BURST, updatable);
      progress.arm(BURST, sessions.serverId(victim));
      b.write(registry);
      long t0 = System.nanoTime();
      if (registry.kv().delete(sessions.keys[victim]) == 0) {
        throw new IllegalStateException("victim " + sessions.keys[victim] + " was not there");
      }
      progress.await(true);
      if (rep >= 0) {
        out.record(progress.victimRemovedAt.get() - t0);
      }
      registry.kv().put(sessions.keys[victim], sessions.encode(victim)); // back for the next phase
    }
  }

  /**
   * What the thread applying the events (the manager's control thread, or the baseline subscriber's) has done,
   * stamped by that thread: when the expected count of re-pointing updates was reached, when the expected deletion was
   * applied. The waiting thread only parks and polls (the figures do not depend on when it wakes up).
   */
  private static final class Progress {
    final AtomicLong applied = new AtomicLong();
    final AtomicLong reachedAt = new AtomicLong();
    final AtomicLong victimRemovedAt = new AtomicLong();
    private volatile long target = Long.MAX_VALUE;
    private volatile long victim = -1;

    /** Expects {@code count} more updates and (if {@code victimId} is not -1) the deletion of that server. */
    void arm(long count, long victimId) {
      reachedAt.set(0);
      victimRemovedAt.set(0);
      victim = victimId;
      target = applied.get() + count;
    }

    /** One re-pointing update applied (the applying thread). */
    void updated() {
      if (applied.incrementAndGet() == target) {
        reachedAt.set(System.nanoTime());
      }
    }

    /** {@code serverId}'s deletion applied (the applying thread). */
    void deleted(long serverId) {
      if (serverId == victim) {
        victimRemovedAt.set(System.nanoTime());
      }
    }

    void await(boolean deletion) {
      long deadline = System.nanoTime() + BURST_TIMEOUT.toNanos();
      while (reachedAt.get() == 0 || (deletion && victimRemovedAt.get() == 0)) {
        if (System.nanoTime() - deadline > 0) {
          throw new IllegalStateException("timed out: " + applied.get() + " of " + target + " updates applied"
              + (deletion ? ", deletion " + (victimRemovedAt.get() == 0 ? "not " : "") + "applied" : ""));
        }
        LockSupport.parkNanos(200_000);
      }
    }
  }

  /** The manager's listener: counts re-pointed instances and stamps the victim's removal. Control thread. */
  private static final class Counting extends ConnectionListener {
    private final Progress progress;

    Counting(Progress progress) {
      this.progress = progress;
    }

    @Override
    public void removed(ServerKey server, String reason) {
      if ("deleted".equals(reason)) {
        progress.deleted(server.serverId());
      } else {
        progress.updated();
      }
    }
  }

  /** The baseline: every event applied to a {@code HashMap<String, Session>}. Registry's delivery thread. */
  private static final class MapSubscriber extends SessionListener {
    final Map<String, Session> map = new HashMap<>();
    final AtomicLong size = new AtomicLong();
    private final Progress progress;
    volatile boolean synced;

    MapSubscriber(Progress progress) {
      this.progress = progress;
    }

    @Override
    public void onEvent(SessionEvent e) {
      if (e.type() == SessionEvent.Type.REMOVED) {
        map.remove(e.key());
        progress.deleted(e.session().serverId());
      } else {
        map.put(e.key(), e.session());
        if (e.type() == SessionEvent.Type.UPDATED) {
          progress.updated();
        }
      }
      size.lazySet(map.size());
    }

    @Override
    public void onSynced(long revision) {
      synced = true;
    }
  }

  /** The sessions of one configuration: session i has id i + 1, role {@code roles[i % roles.length]}. */
  private static final class Sessions {
    final int n;
    final String[] roles;
    final String[] keys;
    /** How many times each session was re-pointed: its port is derived from it. */
    final int[] generation;
    private int cursor;

    Sessions(InMemoryRegistry registry, int n, String[] roles) {
      this.n = n;
      this.roles = roles;
      this.keys = new String[n];
      this.generation = new int[n];
      for (int i = 0; i < n; i++) {
        keys[i] = registry.layout().sessionKey(roles[i % roles.length], serverId(i));
      }
    }

    long serverId(int i) {
      return i + 1L;
    }

    byte[] encode(int i) {
      int port = 1 + (int) ((i * 31L + generation[i]) % 65_000);
      return SessionCodec.encode(Session.builder(roles[i % roles.length], "127.0.0.1:" + port)
          .serverId(serverId(i)).hostName("node-" + i).version("2.4.0").build());
    }

    /** The next {@code count} updates, round robin over sessions {@code [0, updatable)}, encoded now. */
    Burst burst(int count, int updatable) {
      String[] k = new String[count];
      byte[][] v = new byte[count][];
      for (int j = 0; j < count; j++) {
        int i = cursor;
        cursor = (cursor + 1) % updatable;
        generation[i]++;
        k[j] = keys[i];
        v[j] = encode(i);
      }
      return new Burst(k, v);
    }
  }

  private record Burst(String[] keys, byte[][] values) {
    void write(InMemoryRegistry registry) {
      InMemoryRegistry.KeyValues kv = registry.kv();
      for (int j = 0; j < keys.length; j++) {
        kv.put(keys[j], values[j]);
      }
    }
  }

  /** Collections so far and their accumulated time in ms, over every collector. */
  private static long[] gc() {
    long count = 0;
    long ms = 0;
    for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) {
      count += Math.max(0, b.getCollectionCount());
      ms += Math.max(0, b.getCollectionTime());
    }
    return new long[] {count, ms};
  }

  private static long[] delta(long[] before) {
    long[] now = gc();
    return new long[] {now[0] - before[0], now[1] - before[1]};
  }

  private static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  private static ObjectNode obj(ObjectNode parent, String name) {
    return parent.has(name) ? (ObjectNode) parent.get(name) : parent.putObject(name);
  }

  private static String count(int n) {
    return String.format(Locale.ROOT, "%,d", n);
  }

  private static String key(int n) {
    return n >= 1000 ? "n" + (n / 1000) + "k" : "n" + n;
  }

  private static String rate(double perSec) {
    return String.format(Locale.ROOT, "%,.0f/s", perSec);
  }
}
