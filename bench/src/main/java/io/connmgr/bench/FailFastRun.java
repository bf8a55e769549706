package io.connmgr.bench;

import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.connmgr.testing.EchoServer;
import io.connmgr.testing.EtcdCluster;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;

/**
 * Fail-fast latency: a call is in flight to a server, its session is deleted in etcd, and we time how long until the
 * call fails through connmgr, beside how long etcd's own watch (a raw jetcd watch on the same prefix, its own client)
 * takes to deliver that deletion, in the same run, on the same deletions. Real one-member etcd, real Netty server on
 * loopback. Writes {@code bench/results/fail-fast.json}.
 *
 * <p>Run: {@code mvn -q -B -DskipTests package -pl bench -am && java -cp bench/target/benchmarks.jar
 * io.connmgr.bench.FailFastRun [trials=200]}
 */
public final class FailFastRun {

  private FailFastRun() {}

  public static void main(String[] args) throws Exception {
    int trials = args.length > 0 ? Integer.parseInt(args[0]) : 200;
    int warmup = 20;
    String root = "by-dev/meta/session/";
    Histogram failFast = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
    Histogram watch = new Histogram(TimeUnit.SECONDS.toNanos(10), 3);
    try (EtcdCluster etcd = EtcdCluster.singleMember()) {
      etcd.start();
      try (EchoServer server = EchoServer.start(1, "querynode");
          Client writer = etcd.newClient();
          Client watchClient = etcd.newClient();
          EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).build()) {
        ConcurrentHashMap<String, Long> deletedSeen = new ConcurrentHashMap<>();
        Watch.Watcher watcher = watchClient.getWatchClient().watch(bytes(root),
            WatchOption.builder().isPrefix(true).build(), r -> {
              long now = System.nanoTime();
              for (WatchEvent e : r.getEvents()) {
                if (e.getEventType() == WatchEvent.EventType.DELETE) {
                  deletedSeen.put(e.getKeyValue().getKey().toString(StandardCharsets.UTF_8), now);
                }
              }
            });
        ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn("querynode")
            .build());
        cm.start().get(10, TimeUnit.SECONDS);
        long lease = writer.getLeaseClient().grant(600).get().getID();
        for (int i = 1; i <= warmup + trials; i++) {
          long id = 1; // the server's own id: it refuses calls meant for another (ServerID header)
          String key = root + "querynode-" + id;
          Session s = Session.builder("querynode", server.address()).serverId(id).build();
          writer.getKVClient().put(bytes(key), ByteSequence.from(SessionCodec.encode(s)),
              PutOption.builder().withLeaseId(lease).build()).get(10, TimeUnit.SECONDS);
          waitUntil(() -> cm.serverState("querynode", id) == ServerState.READY, "READY " + id + " state " + cm.serverState("querynode", id));
          AtomicLong failedAt = new AtomicLong();
          EchoServiceGrpc.newStub(cm.channel("querynode", id)).withDeadlineAfter(30, TimeUnit.SECONDS)
              .hold(HoldRequest.newBuilder().build(), new StreamObserver<EchoResponse>() {
                @Override
                public void onNext(EchoResponse value) {}

                @Override
                public void onError(Throwable t) {
                  failedAt.set(System.nanoTime());
                }

                @Override
                public void onCompleted() {
                  failedAt.set(-1);
                }
              });
          waitUntil(() -> server.inFlightHolds() == 1);
          deletedSeen.remove(key);
          long t0 = System.nanoTime();
          writer.getKVClient().delete(bytes(key));
          waitUntil(() -> failedAt.get() != 0 && deletedSeen.containsKey(key));
          if (failedAt.get() < 0) {
            throw new IllegalStateException("the call completed instead of failing");
          }
          if (i > warmup) {
            failFast.recordValue(failedAt.get() - t0);
            watch.recordValue(deletedSeen.get(key) - t0);
          }
          waitUntil(() -> server.inFlightHolds() == 0);
        }
        watcher.close();
        cm.close();
      }
    }
    String json = String.format(Locale.ROOT, """
        {
          "trials": %d,
          "failFast": {"p50Ms": %.3f, "p99Ms": %.3f, "maxMs": %.3f},
          "watch": {"p50Ms": %.3f, "p99Ms": %.3f, "maxMs": %.3f},
          "failFastMinusWatch": {"p50Ms": %.3f, "p99Ms": %.3f},
          "jdk": "%s", "cores": %d
        }
        """, trials, ms(failFast.getValueAtPercentile(50)), ms(failFast.getValueAtPercentile(99)),
        ms(failFast.getMaxValue()), ms(watch.getValueAtPercentile(50)), ms(watch.getValueAtPercentile(99)),
        ms(watch.getMaxValue()),
        ms(failFast.getValueAtPercentile(50) - watch.getValueAtPercentile(50)),
        ms(failFast.getValueAtPercentile(99) - watch.getValueAtPercentile(99)),
        System.getProperty("java.version"), Runtime.getRuntime().availableProcessors());
    Path out = Path.of("bench/results/fail-fast.json");
    Files.createDirectories(out.getParent());
    Files.writeString(out, json);
    System.out.print(json);
  }

  private static void waitUntil(java.util.function.BooleanSupplier condition) {
    waitUntil(condition, "condition");
  }

  private static void waitUntil(java.util.function.BooleanSupplier condition, String what) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("timed out waiting for " + what);
      }
      LockSupport.parkNanos(20_000);
    }
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }

  private static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }
}
