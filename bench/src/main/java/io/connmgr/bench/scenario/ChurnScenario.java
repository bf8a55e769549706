package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.bytes;
import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import io.connmgr.connection.ConnectionListener;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerKey;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Churn: N servers register and deregister (each a put then a delete of its own key, 32 in flight at once, as fast as
 * etcd takes them); connmgr tracks the role. Measures the events per second connmgr applies (up to the last
 * deregistration reported by its listener), its lag behind a raw etcd watch for each deregistration, and the heap the
 * manager retains after the churn (per churned session: should be about nothing). Baseline: the raw watch's own rate
 * and its delete → delivery latency, same run, same events.
 */
public final class ChurnScenario implements Scenario {

  private static final String ROOT = "bench/churn/";
  private static final String ROLE = "churnnode";

  @Override
  public String name() {
    return "churn";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int ops = env.trials(500, 10_000);
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    AtomicLongArray sent = new AtomicLongArray(ops + 1);
    AtomicLongArray cmSeen = new AtomicLongArray(ops + 1);
    AtomicLongArray rawSeen = new AtomicLongArray(ops + 1);
    AtomicInteger cmCount = new AtomicInteger();
    AtomicInteger rawCount = new AtomicInteger();
    Latency cmLatency = new Latency("connmgr: delete → server removed");
    Latency rawLatency = new Latency("etcd watch: delete → DELETE delivered");
    Latency lag = new Latency("connmgr lag behind the raw watch");
    long t0;
    long retained;
    try (Client watchClient = env.etcd().newClient();
        EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
      Watch.Watcher watcher = watchClient.getWatchClient().watch(Env.bytes(ROOT),
          WatchOption.builder().isPrefix(true).build(), r -> {
            long now = System.nanoTime();
            for (WatchEvent e : r.getEvents()) {
              if (e.getEventType() == WatchEvent.EventType.DELETE) {
                String k = e.getKeyValue().getKey().toString(StandardCharsets.UTF_8);
                int id = Integer.parseInt(k.substring(k.lastIndexOf('-') + 1));
                rawSeen.set(id, now);
                rawCount.incrementAndGet();
              }
            }
          });
      discovery.snapshot(ROLE).get(10, TimeUnit.SECONDS);
      long before = Heap.usedAfterGc();
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).roles(ROLE)
          .listener(new ConnectionListener() {
            @Override
            public void removed(ServerKey server, String reason) {
              cmSeen.set((int) server.serverId(), System.nanoTime());
              cmCount.incrementAndGet();
            }
          }).build());
      try {
        cm.start().get(10, TimeUnit.SECONDS);
        KV kv = env.writer().getKVClient();
        Semaphore window = new Semaphore(32);
        t0 = System.nanoTime();
        for (int i = 1; i <= ops; i++) {
          int id = i;
          window.acquire();
          ByteSequence key = Env.bytes(layout.sessionKey(ROLE, id));
          Session s = Session.builder(ROLE, "127.0.0.1:" + (1 + id % 60_000)).serverId(id).build();
          kv.put(key, ByteSequence.from(SessionCodec.encode(s))).thenCompose(p -> {
            sent.set(id, System.nanoTime());
            return kv.delete(key);
          }).whenComplete((d, err) -> window.release());
        }
        Env.await(() -> cmCount.get() >= ops && rawCount.get() >= ops, Duration.ofSeconds(120),
            "every deregistration to reach connmgr and the raw watch");
        retained = Heap.usedAfterGc() - before;
      } finally {
        cm.close();
        watcher.close();
      }
    }
    long cmLast = 0;
    long rawLast = 0;
    for (int i = 1; i <= ops; i++) {
      cmLast = Math.max(cmLast, cmSeen.get(i));
      rawLast = Math.max(rawLast, rawSeen.get(i));
      cmLatency.record(cmSeen.get(i) - sent.get(i));
      rawLatency.record(rawSeen.get(i) - sent.get(i));
      lag.record(cmSeen.get(i) - rawSeen.get(i));
    }
    double cmRate = 2.0 * ops / ((cmLast - t0) / 1e9);
    double rawRate = 2.0 * ops / ((rawLast - t0) / 1e9);
    var n = results.node("churn");
    n.put("servers", ops);
    n.put("events", 2 * ops);
    n.put("eventsPerSecond", Math.round(cmRate));
    n.put("rawWatchEventsPerSecond", Math.round(rawRate));
    n.put("retainedHeapBytes", retained);
    n.put("retainedHeapPerChurnedSessionBytes", retained / ops);
    lag.writeTo(n.putObject("lagBehindWatch"));
    cmLatency.writeTo(n.putObject("connmgrDeleteToRemoved"));
    rawLatency.writeTo(n.putObject("rawWatchDeleteToDelivered"));
    results.section("Churn: servers registering and deregistering",
        ops + " servers each register and deregister (put then delete of its own key; 32 in flight, as fast as etcd "
            + "takes them: " + (2 * ops) + " events). connmgr tracks the role (no connections). Rates count from "
            + "the first put to the last deregistration seen. Lag: connmgr's removal (its listener) minus the raw "
            + "watch's delivery of the same delete (negative values count as 0).")
        .row("events applied per second", String.format(Locale.ROOT, "%,.0f/s", cmRate),
            String.format(Locale.ROOT, "raw watch %,.0f/s", rawRate), ratio(cmRate, rawRate), "", "")
        .row("delete → seen (p50)", ms(cmLatency.p50Ms()), "raw watch " + ms(rawLatency.p50Ms()),
            ratio(cmLatency.p50Ms(), rawLatency.p50Ms()), "", "")
        .row("delete → seen (p99)", ms(cmLatency.p99Ms()), "raw watch " + ms(rawLatency.p99Ms()),
            ratio(cmLatency.p99Ms(), rawLatency.p99Ms()), "", "")
        .row("lag behind the raw watch (p50 / p99)", ms(lag.p50Ms()) + " / " + ms(lag.p99Ms()), "", "", "", "")
        .row("heap retained after the churn, per churned session", bytes((double) retained / ops), "0 B", "", "", "");
    results.chart(new Results.Chart("churn.svg", "Churn: delete → seen, under load", List.of(cmLatency, rawLatency),
        "Under churn connmgr trails the raw watch by its serial hand-off and per-event work."));
  }
}
