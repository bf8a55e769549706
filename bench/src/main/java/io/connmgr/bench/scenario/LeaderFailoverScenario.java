package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.testservers.ChildJvm;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.grpc.Channel;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * Leader failover of an exclusive role (Milvus' active-standby coordinators): two candidate processes
 * ({@link LeaderCandidateMain}) campaign for the role's active key; a client calls {@code Echo} through
 * {@code cm.active(role)} in a loop. Then the active one
 * <ul>
 *   <li><b>steps down</b> (Stopping, then its lease revoked: both keys go): time from the active key's deletion to the
 *       first successful call answered by the new leader. Goal ≤ 50 ms.</li>
 *   <li><b>is killed with kill -9</b>: time from the kill to the first successful call on the new leader; the keys go
 *       when the lease (TTL {@value #TTL_SECONDS} s) expires. Goal ≤ TTL + 100 ms.</li>
 * </ul>
 * Baseline, in the same run: a raw jetcd watch on the active key, the time at which it sees the new leader's key (the
 * floor: no client can follow a leader before etcd says who it is). A new standby process is started for each trial
 * and warmed with 300 calls (a long-running standby's call path is warm; a fresh JVM's first call costs ~80 ms of class
 * loading and JIT that no client can save).
 */
public final class LeaderFailoverScenario implements Scenario {

  static final String ROOT = "bench/leader/";
  static final String ROLE = "rootcoord";
  static final int TTL_SECONDS = 2;

  @Override
  public String name() {
    return "leader-failover";
  }

  /** A successful call and the server that answered it. */
  private record Ok(long at, long serverId) {}

  /** An event on the active key seen by the raw watch: a put naming {@code serverId}, or a delete (-1). */
  private record KeyEvent(long at, long serverId) {}

  @Override
  public void run(Env env, Results results) throws Exception {
    int graceful = env.trials(2, 20);
    int crashes = env.trials(1, 10);
    Latency gracefulCm = new Latency("step-down: connmgr active(role)");
    Latency gracefulRaw = new Latency("step-down: raw etcd watch sees the new leader");
    Latency crashCm = new Latency("kill -9: connmgr active(role)");
    Latency crashRaw = new Latency("kill -9: raw etcd watch sees the new leader");
    ConcurrentLinkedQueue<Ok> oks = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<KeyEvent> keyEvents = new ConcurrentLinkedQueue<>();
    String activeKey = KeyLayout.withRoot(ROOT).activeKey(ROLE);
    String endpoints = String.join(",", env.endpoints());
    List<ChildJvm> children = new ArrayList<>();
    AtomicBoolean stop = new AtomicBoolean();
    long[] failedCalls = new long[1];
    try (Client watchClient = env.etcd().newClient();
        EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints())
            .layout(KeyLayout.withRoot(ROOT)).build()) {
      Watch.Watcher watcher = watchClient.getWatchClient().watch(Env.bytes(activeKey), WatchOption.DEFAULT, r -> {
        long now = System.nanoTime();
        for (WatchEvent e : r.getEvents()) {
          long id = e.getEventType() == WatchEvent.EventType.PUT
              ? SessionCodec.decode(activeKey, e.getKeyValue().getValue().getBytes()).serverId() : -1;
          keyEvents.add(new KeyEvent(now, id));
        }
      });
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE).build());
      Thread caller = null;
      try {
        cm.start().get(10, TimeUnit.SECONDS);
        long nextId = 500;
        ChildJvm leader = candidate(endpoints, nextId, children);
        leader.awaitLine("LEADER", Duration.ofSeconds(30));
        long leaderId = nextId++;
        Channel active = cm.active(ROLE);
        caller = new Thread(() -> {
          EchoRequest req = EchoRequest.newBuilder().setMessage("x").build();
          while (!stop.get()) {
            try {
              long id = EchoServiceGrpc.newBlockingStub(active).withDeadlineAfter(1, TimeUnit.SECONDS).echo(req)
                  .getServerId();
              oks.add(new Ok(System.nanoTime(), id));
            } catch (StatusRuntimeException e) {
              failedCalls[0]++;
              LockSupport.parkNanos(100_000); // no active server known: do not spin on the fail-fast path
            }
          }
        }, "leader-failover-caller");
        caller.start();
        long first = leaderId;
        Env.await(() -> oks.stream().anyMatch(o -> o.serverId == first), "a call answered by the first leader");
        for (int i = 0; i < graceful + crashes; i++) {
          boolean crash = i >= graceful;
          long standbyId = nextId++;
          ChildJvm standby = candidate(endpoints, standbyId, children);
          Env.await(() -> cm.serverState(ROLE, standbyId) == ServerState.READY, "the standby READY");
          // a standby of a real cluster has been up for long, serving health checks and standby answers: warm this
          // fresh JVM's call path, or the first call on the new leader measures its class loading and JIT
          for (int w = 0; w < 300; w++) {
            Calls.echo(cm.channel(ROLE, standbyId), 5_000);
          }
          long t0 = System.nanoTime();
          if (crash) {
            leader.kill();
          } else {
            leader.send("STEPDOWN");
          }
          standby.awaitLine("LEADER", Duration.ofSeconds(TTL_SECONDS + 30L));
          Env.await(() -> oks.stream().anyMatch(o -> o.serverId == standbyId && o.at > t0),
              Duration.ofSeconds(30), "a call answered by the new leader");
          Env.await(() -> keyEvents.stream().anyMatch(e -> e.serverId == standbyId && e.at > t0),
              Duration.ofSeconds(30), "the raw watch to see the new leader");
          long okAt = oks.stream().filter(o -> o.serverId == standbyId && o.at > t0).mapToLong(Ok::at).min()
              .getAsLong();
          long keyAt = keyEvents.stream().filter(e -> e.serverId == standbyId && e.at > t0).mapToLong(KeyEvent::at)
              .min().getAsLong();
          if (crash) {
            crashCm.record(okAt - t0);
            crashRaw.record(keyAt - t0);
          } else {
            long deletedAt = keyEvents.stream().filter(e -> e.serverId == -1 && e.at > t0).mapToLong(KeyEvent::at)
                .min().orElse(t0);
            gracefulCm.record(okAt - deletedAt);
            gracefulRaw.record(keyAt - deletedAt);
          }
          leader.close();
          leader = standby;
        }
      } finally {
        stop.set(true);
        if (caller != null) {
          caller.join(5_000);
        }
        cm.close();
        cm.awaitTermination(Duration.ofSeconds(10));
        watcher.close();
        children.forEach(ChildJvm::close);
      }
    }
    ObjectNode l = results.node("leaderFailover");
    l.put("leaseTtlSeconds", TTL_SECONDS);
    l.put("gracefulP99Ms", Results.round(gracefulCm.p99Ms()));
    l.put("gracefulP50Ms", Results.round(gracefulCm.p50Ms()));
    l.put("crashP99Ms", Results.round(crashCm.p99Ms()));
    l.put("crashP50Ms", Results.round(crashCm.p50Ms()));
    gracefulCm.writeTo(l.putObject("graceful").putObject("connmgr"));
    gracefulRaw.writeTo(((ObjectNode) l.get("graceful")).putObject("rawWatch"));
    crashCm.writeTo(l.putObject("crash").putObject("connmgr"));
    crashRaw.writeTo(((ObjectNode) l.get("crash")).putObject("rawWatch"));
    l.put("failedCalls", failedCalls[0]);
    long crashGoal = TTL_SECONDS * 1000L + 100;
    String g1 = results.goal("leaderFailover.gracefulP99Ms", "<= 50", gracefulCm.p99Ms(), "ms",
        gracefulCm.p99Ms() <= 50);
    String g2 = results.goal("leaderFailover.crashP99Ms", "<= " + crashGoal, crashCm.p99Ms(), "ms",
        crashCm.p99Ms() <= crashGoal);
    results.section("Leader failover of an exclusive role (active-standby)",
        "Two candidate processes campaign for the role's active key; a client calls Echo through cm.active(role) in "
            + "a loop. Step-down: time from the active key's deletion to the first call answered by the new leader. "
            + "kill -9: time from the kill to that call (lease TTL " + TTL_SECONDS + " s). Beside it, a raw etcd "
            + "watch on the active key: when etcd says who the new leader is. " + graceful + " step-downs, "
            + crashes + " kills.")
        .row("step-down (p99)", ms(gracefulCm.p99Ms()), "raw watch " + ms(gracefulRaw.p99Ms()),
            ratio(gracefulCm.p99Ms(), gracefulRaw.p99Ms()), "<= 50 ms", g1)
        .row("step-down (p50)", ms(gracefulCm.p50Ms()), "raw watch " + ms(gracefulRaw.p50Ms()),
            ratio(gracefulCm.p50Ms(), gracefulRaw.p50Ms()), "", "")
        .row("kill -9 (p99)", ms(crashCm.p99Ms()), "raw watch " + ms(crashRaw.p99Ms()),
            ratio(crashCm.p99Ms(), crashRaw.p99Ms()), "<= " + crashGoal + " ms", g2)
        .row("kill -9 (p50)", ms(crashCm.p50Ms()), "raw watch " + ms(crashRaw.p50Ms()),
            ratio(crashCm.p50Ms(), crashRaw.p50Ms()), "", "")
        .note("After a kill the keys go only when etcd expires the lease: between TTL − TTL/3 (the last keep-alive) "
            + "and TTL after the kill, plus etcd's expiry sweep (every 500 ms). The standby's campaign and the "
            + "client follow within a watch latency of the key's change.");
    results.chart(new Results.Chart("leader-failover.svg", "Active server gone → first call on the new leader",
        List.of(gracefulCm, gracefulRaw, crashCm, crashRaw), "connmgr active(role) vs a raw etcd watch"));
  }

  private static ChildJvm candidate(String endpoints, long id, List<ChildJvm> children) throws Exception {
    ChildJvm c = ChildJvm.start(LeaderCandidateMain.class, endpoints, ROOT, ROLE, Long.toString(id),
        Integer.toString(TTL_SECONDS));
    children.add(c);
    c.awaitLine("READY ", Duration.ofSeconds(60));
    return c;
  }
}
