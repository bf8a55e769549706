package io.connmgr.bench;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import io.connmgr.testing.EtcdCluster;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * Put-to-event latency of connmgr's etcd subscription beside jetcd's raw watch, in the same run, on the same puts.
 *
 * <p>Starts a real one-member etcd on loopback, then for each of N sequential puts (after a warm-up) records the time
 * from just before the put is sent to the moment (a) a raw jetcd {@code Watch} listener and (b) a connmgr
 * {@link io.connmgr.discovery.SessionListener} sees the event. Each has its own etcd client. Writes
 * {@code bench/results/watch-latency.json}.
 *
 * <p>Run: {@code mvn -q -B -DskipTests package -pl bench -am && java -cp "bench/target/classes:bench/target/lib/*"
 * io.connmgr.bench.WatchLatencyRun [events=1000]}
 */
public final class WatchLatencyRun {

  private WatchLatencyRun() {}

  public static void main(String[] args) throws Exception {
    int events = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
    int warmup = 200;
    String root = "bench/watch/";
    try (EtcdCluster etcd = EtcdCluster.singleMember()) {
      etcd.start();
      Histogram raw = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
      Histogram connmgr = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
      ConcurrentHashMap<Long, Long> sentAt = new ConcurrentHashMap<>();
      ConcurrentHashMap<Long, Long> rawAt = new ConcurrentHashMap<>();
      ConcurrentHashMap<Long, Long> connmgrAt = new ConcurrentHashMap<>();

      try (Client writer = etcd.newClient();
          Client watchClient = etcd.newClient();
          EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(root).build()) {
        Watch.Watcher watcher = watchClient.getWatchClient().watch(bytes(root),
            WatchOption.builder().isPrefix(true).withPrevKV(true).build(),
            r -> {
              long now = System.nanoTime();
              r.getEvents().forEach(e -> rawAt.put(e.getKeyValue().getModRevision(), now));
            });
        Subscription sub = discovery.subscribe(new SessionListener() {
          @Override
          public void onEvent(SessionEvent e) {
            connmgrAt.put(e.revision(), System.nanoTime());
          }
        });
        // let both watches be established
        long probe = put(writer, root, 0, 0);
        while (!rawAt.containsKey(probe) || !connmgrAt.containsKey(probe)) {
          LockSupport.parkNanos(1_000_000);
        }
        for (int i = 1; i <= warmup + events; i++) {
          long start = System.nanoTime();
          long rev = put(writer, root, i % 16, i);
          sentAt.put(rev, start);
          long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
          while ((!rawAt.containsKey(rev) || !connmgrAt.containsKey(rev)) && System.nanoTime() < deadline) {
            Thread.onSpinWait();
          }
          if (i > warmup) {
            raw.recordValue(rawAt.get(rev) - start);
            connmgr.recordValue(connmgrAt.get(rev) - start);
          }
        }
        sub.close();
        watcher.close();
      }
      String json = String.format(Locale.ROOT, """
          {
            "events": %d,
            "rawWatch": {"p50Ms": %.3f, "p99Ms": %.3f, "maxMs": %.3f},
            "connmgr": {"p50Ms": %.3f, "p99Ms": %.3f, "maxMs": %.3f},
            "ratio": {"p50": %.3f, "p99": %.3f},
            "jdk": "%s", "cores": %d
          }
          """, events, ms(raw.getValueAtPercentile(50)), ms(raw.getValueAtPercentile(99)), ms(raw.getMaxValue()),
          ms(connmgr.getValueAtPercentile(50)), ms(connmgr.getValueAtPercentile(99)), ms(connmgr.getMaxValue()),
          (double) connmgr.getValueAtPercentile(50) / raw.getValueAtPercentile(50),
          (double) connmgr.getValueAtPercentile(99) / raw.getValueAtPercentile(99),
          System.getProperty("java.version"), Runtime.getRuntime().availableProcessors());
      Path out = Path.of("bench/results/watch-latency.json");
      Files.createDirectories(out.getParent());
      Files.writeString(out, json);
      System.out.print(json);
    }
  }

  private static long put(Client c, String root, int key, int i) throws Exception {
    Session s = Session.builder("querynode", "127.0.0.1:" + (1 + i % 60000)).serverId(key).build();
    return c.getKVClient().put(bytes(root + "querynode-" + key), ByteSequence.from(SessionCodec.encode(s)))
        .get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }

  private static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }
}
