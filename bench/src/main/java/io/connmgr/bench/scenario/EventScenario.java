package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Put → event: for each of N sequential puts (after a warm-up), the time from just before the put is sent until
 * connmgr's etcd subscription ({@link EtcdDiscovery#subscribe}) delivers the event, beside a raw jetcd watch on the
 * same prefix (its own client) seeing the same put. Each has its own etcd client. This is the path every session
 * change takes into connmgr.
 */
public final class EventScenario implements Scenario {

  private static final String ROOT = "bench/events/";

  @Override
  public String name() {
    return "events";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int warmup = env.trials(20, 200);
    int events = env.trials(100, 1000);
    Latency raw = new Latency("etcd watch (raw jetcd)");
    Latency sub = new Latency("connmgr subscription");
    ConcurrentHashMap<Long, Long> rawAt = new ConcurrentHashMap<>();
    ConcurrentHashMap<Long, Long> subAt = new ConcurrentHashMap<>();
    try (Client watchClient = env.etcd().newClient();
        EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints()).root(ROOT).build()) {
      Watch.Watcher watcher = watchClient.getWatchClient().watch(Env.bytes(ROOT),
          WatchOption.builder().isPrefix(true).withPrevKV(true).build(), r -> {
            long now = System.nanoTime();
            r.getEvents().forEach(e -> rawAt.put(e.getKeyValue().getModRevision(), now));
          });
      Subscription subscription = discovery.subscribe(new SessionListener() {
        @Override
        public void onEvent(SessionEvent e) {
          subAt.put(e.revision(), System.nanoTime());
        }
      });
      try {
        // both watches start asynchronously: probe until one put reaches both
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        for (int attempt = 1; ; attempt++) {
          // each probe a different value: an identical put changes no session, so connmgr rightly emits nothing
          long probe = put(env, 0, 30_000 + attempt);
          try {
            Env.await(() -> rawAt.containsKey(probe) && subAt.containsKey(probe), Duration.ofMillis(200), "probe");
            break;
          } catch (IllegalStateException notYet) {
            if (System.nanoTime() - deadline > 0) {
              throw new IllegalStateException("the watches did not start within 30 s", notYet);
            }
          }
        }
        for (int i = 1; i <= warmup + events; i++) {
          long start = System.nanoTime();
          long rev = put(env, i % 16, i);
          Env.await(() -> rawAt.containsKey(rev) && subAt.containsKey(rev), Duration.ofSeconds(10),
              "revision " + rev);
          if (i > warmup) {
            raw.record(rawAt.get(rev) - start);
            sub.record(subAt.get(rev) - start);
          }
        }
      } finally {
        subscription.close();
        watcher.close();
      }
    }
    sub.writeTo(results.node("events").putObject("connmgr"));
    raw.writeTo(results.node("events").putObject("rawWatch"));
    results.section("Put → event",
        "Time from just before a put is sent until connmgr's etcd subscription delivers the event, beside a raw "
            + "jetcd watch (own client) seeing the same put; " + events + " sequential puts after " + warmup
            + " warm-up.")
        .row("p50", ms(sub.p50Ms()), "raw watch " + ms(raw.p50Ms()), ratio(sub.p50Ms(), raw.p50Ms()), "", "")
        .row("p99", ms(sub.p99Ms()), "raw watch " + ms(raw.p99Ms()), ratio(sub.p99Ms(), raw.p99Ms()), "", "");
    results.chart(new Results.Chart("events.svg", "etcd put → event delivered", List.of(sub, raw),
        "connmgr's subscription adds its serial hand-off and decoding to the raw watch."));
  }

  private static long put(Env env, int key, int i) throws Exception {
    Session s = Session.builder("querynode", "127.0.0.1:" + (1 + i % 60000)).serverId(key).build();
    return env.put(ROOT + "querynode-" + key, s, 0);
  }
}
