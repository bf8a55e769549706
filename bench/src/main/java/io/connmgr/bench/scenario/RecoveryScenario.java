package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.testservers.EchoServer;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Recovery: a server's session is deleted (connmgr removes it), then registered again; we time from just before the
 * put until the first successful {@code Echo} through {@code cm.channel(role, id)} (calls made in a loop fail at once
 * while the server is unknown). Baselines in the same trial: a raw etcd watch's delivery of that put, and the first
 * call on a fresh plain grpc-java channel to the same server (connect + call) made right after; their sum is what
 * any client must pay at least.
 */
public final class RecoveryScenario implements Scenario {

  private static final String ROOT = "bench/recovery/";
  private static final String ROLE = "querynode";

  @Override
  public String name() {
    return "recovery";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int warmup = env.trials(5, 20);
    int trials = env.trials(20, 250);
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    String key = layout.sessionKey(ROLE, 1);
    Latency recovery = new Latency("connmgr: re-registered → first successful call");
    Latency watch = new Latency("etcd watch: PUT delivered");
    Latency connect = new Latency("fresh grpc-java channel: connect + first call");
    Latency floor = new Latency("etcd watch + fresh channel's first call");
    ConcurrentHashMap<String, Long> putSeen = new ConcurrentHashMap<>();
    long lease = env.lease(3600);
    try (EchoServer a = EchoServer.start(1, ROLE);
        Client watchClient = env.etcd().newClient();
        EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
      Watch.Watcher watcher = watchClient.getWatchClient().watch(Env.bytes(ROOT),
          WatchOption.builder().isPrefix(true).build(), r -> {
            long now = System.nanoTime();
            for (WatchEvent e : r.getEvents()) {
              if (e.getEventType() == WatchEvent.EventType.PUT) {
                putSeen.put(e.getKeyValue().getKey().toString(StandardCharsets.UTF_8), now);
              }
            }
          });
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE).build());
      try {
        cm.start().get(10, TimeUnit.SECONDS);
        Session session = Session.builder(ROLE, a.address()).serverId(1).build();
        env.put(key, session, lease);
        Env.await(() -> cm.serverState(ROLE, 1) == ServerState.READY, "querynode-1 READY");
        for (int i = 1; i <= warmup + trials; i++) {
          env.delete(key);
          Env.await(() -> cm.serverState(ROLE, 1) == null, "querynode-1 removed");
          putSeen.remove(key);
          long t0 = System.nanoTime();
          env.writer().getKVClient().put(Env.bytes(key),
              io.etcd.jetcd.ByteSequence.from(io.connmgr.discovery.SessionCodec.encode(session)),
              io.etcd.jetcd.options.PutOption.builder().withLeaseId(lease).build());
          long deadline = t0 + TimeUnit.SECONDS.toNanos(30);
          Status s;
          while (!(s = Calls.echo(cm.channel(ROLE, 1), 5_000)).isOk()) {
            if (System.nanoTime() - deadline > 0) {
              throw new IllegalStateException("no successful call 30 s after re-registering: " + s);
            }
            LockSupport.parkNanos(20_000);
          }
          long recovered = System.nanoTime() - t0;
          Env.await(() -> putSeen.containsKey(key), "the raw watch to see the put");
          long watched = putSeen.get(key) - t0;
          ManagedChannel fresh = NettyChannelBuilder.forAddress(EchoServer.HOST, a.port()).usePlaintext().build();
          long c0 = System.nanoTime();
          Status first = Calls.echo(fresh, 5_000);
          long connected = System.nanoTime() - c0;
          fresh.shutdownNow();
          if (!first.isOk()) {
            throw new IllegalStateException("the fresh channel's call failed: " + first);
          }
          if (i > warmup) {
            recovery.record(recovered);
            watch.record(watched);
            connect.record(connected);
            floor.record(watched + connected);
          }
        }
      } finally {
        watcher.close();
        cm.close();
      }
    }
    recovery.writeTo(results.node("recovery"));
    watch.writeTo(results.node("recoveryBaseline").putObject("watch"));
    connect.writeTo(results.node("recoveryBaseline").putObject("freshChannelFirstCall"));
    floor.writeTo(results.node("recoveryBaseline").putObject("watchPlusFirstCall"));
    double p99 = recovery.p99Ms();
    results.section("Recovery: the server registers again → first successful call",
        "The session is deleted (connmgr removes the server), then put again; time from just before the put until "
            + "the first successful `Echo` through `cm.channel(role, id)`; " + trials + " trials after " + warmup
            + " warm-up. Baseline (same trial): the raw etcd watch's delivery of the put plus the first call on a "
            + "fresh plain grpc-java channel (TCP + HTTP/2 handshake + call), the least any client pays.")
        .row("p50", ms(recovery.p50Ms()), "watch + first call " + ms(floor.p50Ms()) + " (watch " + ms(watch.p50Ms())
            + ", first call " + ms(connect.p50Ms()) + ")", ratio(recovery.p50Ms(), floor.p50Ms()), "", "")
        .row("p99", ms(p99), "watch + first call " + ms(floor.p99Ms()), ratio(p99, floor.p99Ms()), "p99 < 50 ms",
            results.goal("recovery.p99", "< 50 ms", p99, "ms", p99 < 50));
    results.chart(new Results.Chart("recovery.svg", "Re-registered → first successful call",
        List.of(recovery, floor, watch, connect),
        "connmgr's recovery beside the watch delivery plus a fresh channel's first call, measured in the same trials."));
  }
}
