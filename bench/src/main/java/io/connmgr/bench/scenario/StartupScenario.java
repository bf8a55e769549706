package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.bytes;
import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ConnectionStats;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Start-up with 10,000 sessions in etcd (one role, unreachable addresses: the view is about known sessions, nothing
 * connects): the time for {@code ConnectionManager.start()} to return, and until its future completes — the initial
 * snapshot applied and the full view published ({@code stats()} then shows all 10,000). Each repetition uses a fresh
 * {@link EtcdDiscovery} (its etcd connection is made inside the measured time). Baseline: the raw jetcd {@code get} of
 * the same prefix on a fresh client, in the same repetitions.
 *
 * <p>Also the heap per idle (known, unconnected) session: the retained heap of a started manager holding the 10,000
 * sessions, beside a plain {@code HashMap<String, Session>} of the same decoded sessions, and their ratio
 * ({@code memory.idleSessionRatio}, goal ≤ 1.5).
 */
public final class StartupScenario implements Scenario {

  static final String ROOT = "bench/startup/";
  static final String ROLE = "querynode";
  static final int SESSIONS = 10_000;

  @Override
  public String name() {
    return "startup";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int reps = env.trials(3, 20);
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    long loadStart = System.nanoTime();
    load(env, layout);
    double loadMs = (System.nanoTime() - loadStart) / 1e6;
    Latency startReturn = new Latency("connmgr start() returned");
    Latency ready = new Latency("connmgr full view ready");
    Latency rawGet = new Latency("raw jetcd get of the prefix");
    for (int i = 0; i <= reps; i++) {
      boolean measured = i > 0; // the first repetition warms the JVM up
      try (Client c = env.etcd().newClient()) {
        long t0 = System.nanoTime();
        GetResponse r = c.getKVClient().get(Env.bytes(ROOT), GetOption.builder().isPrefix(true).build())
            .get(30, TimeUnit.SECONDS);
        long took = System.nanoTime() - t0;
        if (r.getKvs().size() != SESSIONS) {
          throw new IllegalStateException("expected " + SESSIONS + " keys, got " + r.getKvs().size());
        }
        if (measured) {
          rawGet.record(took);
        }
      }
      try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
        ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(d).roles(ROLE).build());
        long t0 = System.nanoTime();
        CompletableFuture<Void> f = cm.start();
        long returned = System.nanoTime() - t0;
        f.get(30, TimeUnit.SECONDS);
        long done = System.nanoTime() - t0;
        ConnectionStats.RoleStats rs = cm.stats().roles().get(ROLE);
        cm.close();
        if (rs == null || rs.registered() != SESSIONS) {
          throw new IllegalStateException("view not complete when start()'s future completed: " + rs);
        }
        if (measured) {
          startReturn.record(returned);
          ready.record(done);
        }
      }
    }
    var n = results.node("startup10k");
    n.put("sessions", SESSIONS);
    n.put("repetitions", reps);
    n.put("startReturnMs", Results.round(startReturn.p50Ms()));
    n.put("readyMs", Results.round(ready.p50Ms()));
    n.put("rawGetMs", Results.round(rawGet.p50Ms()));
    n.put("loadIntoEtcdMs", Results.round(loadMs));
    startReturn.writeTo(n.putObject("startReturn"));
    ready.writeTo(n.putObject("ready"));
    rawGet.writeTo(n.putObject("rawGet"));

    // heap per idle session
    long perSession;
    long perMapEntry;
    long rawBytes;
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build();
        Client c = env.etcd().newClient()) {
      d.snapshot(ROLE).get(30, TimeUnit.SECONDS); // the discovery's client is connected and warm
      long before = Heap.usedAfterGc();
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(d).roles(ROLE).build());
      cm.start().get(30, TimeUnit.SECONDS);
      long after = Heap.usedAfterGc();
      perSession = (after - before) / SESSIONS;
      cm.close();
      GetResponse r = c.getKVClient().get(Env.bytes(ROOT), GetOption.builder().isPrefix(true).build())
          .get(30, TimeUnit.SECONDS);
      long sum = 0;
      for (KeyValue kv : r.getKvs()) {
        sum += kv.getKey().size() + kv.getValue().size();
      }
      rawBytes = sum / SESSIONS;
      List<KeyValue> kvs = r.getKvs();
      long mb = Heap.usedAfterGc();
      Map<String, Session> map = new HashMap<>();
      for (KeyValue kv : kvs) {
        String key = kv.getKey().toString(StandardCharsets.UTF_8);
        map.put(key, SessionCodec.decode(key, kv.getValue().getBytes()));
      }
      long ma = Heap.usedAfterGc();
      perMapEntry = (ma - mb) / map.size();
    }
    var m = results.node("memory");
    m.put("perIdleSessionBytes", perSession);
    m.put("mapOfSessionsPerEntryBytes", perMapEntry);
    m.put("etcdKeyValueBytes", rawBytes);
    m.put("idleSessions", SESSIONS);
    double idleRatio = perMapEntry > 0 ? (double) perSession / perMapEntry : Double.NaN;
    m.put("idleSessionRatio", Results.round(idleRatio));

    double startMs = startReturn.p50Ms();
    double readyMs = ready.p50Ms();
    results.section("Start-up: 10,000 sessions in etcd",
        SESSIONS + " sessions of one role in etcd (written in " + ms(loadMs) + " with 128-put transactions); each of "
            + reps + " repetitions (after one warm-up) builds a fresh discovery and manager and times `start()`'s "
            + "return and its future (initial snapshot applied, full view published; `stats()` checked to hold all "
            + SESSIONS + "). Baseline: a raw jetcd `get` of the prefix on a fresh client, same repetitions.")
        .row("`start()` returns (p50)", ms(startMs), "", "", "< 5 ms",
            results.goal("startup10k.startReturnMs", "< 5 ms", startMs, "ms", startMs < 5))
        .row("`start()` returns (max)", ms(startReturn.maxMs()), "", "", "", "")
        .row("full view ready (p50)", ms(readyMs), "raw get " + ms(rawGet.p50Ms()), ratio(readyMs, rawGet.p50Ms()),
            "< 500 ms", results.goal("startup10k.readyMs", "< 500 ms", readyMs, "ms", readyMs < 500))
        .row("full view ready (max)", ms(ready.maxMs()), "raw get " + ms(rawGet.maxMs()),
            ratio(ready.maxMs(), rawGet.maxMs()), "", "");
    results.section("Memory: idle sessions",
        "Retained heap (MemoryMXBean after full GCs) of a started manager holding " + SESSIONS + " known, "
            + "unconnected sessions (its discovery's session table included), per session; beside a plain "
            + "`HashMap<String, Session>` of the same decoded sessions and the raw etcd key+value size.")
        .row("heap per idle session", bytes(perSession), "HashMap entry " + bytes(perMapEntry) + " (etcd key+value "
            + bytes(rawBytes) + ")", ratio(perSession, perMapEntry), "≤ 1.5× the HashMap entry",
            results.goal("memory.idleSessionRatio", "≤ 1.5", idleRatio, "×", idleRatio <= 1.5));
  }

  private static void load(Env env, KeyLayout layout) throws Exception {
    Map<String, Session> sessions = new LinkedHashMap<>();
    for (int id = 1; id <= SESSIONS; id++) {
      sessions.put(layout.sessionKey(ROLE, id), Session.builder(ROLE, "127.0.0.1:" + (1 + id % 60_000)).serverId(id)
          .hostName("node-" + id).version("2.4.0").build());
    }
    env.putAll(sessions, env.lease(7200));
  }

}
