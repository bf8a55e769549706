package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.LivenessPolicy;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.testservers.ChildJvm;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Frozen server: a server process ({@link LeasedServerMain}) whose session has Milvus' lease TTL of
 * {@value #TTL_SECONDS} s has a {@code Hold} call in flight; the process is frozen with SIGSTOP (a long GC pause, a
 * stuck host: its connection stays open, its lease stays valid until it expires). Time from the signal to the call's
 * end through connmgr with its default liveness policy, beside the same manager with liveness probes off (today's
 * lease-bound figure: the call ends when the session's lease expires). Goal: ≤ 3,000 ms. Quick mode (a smoke test)
 * uses a {@value #QUICK_TTL_SECONDS} s lease and one trial.
 */
public final class FrozenServerScenario implements Scenario {

  static final String ROOT = "bench/frozen/";
  static final String ROLE = "querynode";
  static final int TTL_SECONDS = 30;
  static final int QUICK_TTL_SECONDS = 5;

  @Override
  public String name() {
    return "frozen-server";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int trials = env.trials(1, 10);
    int ttl = env.quick() ? QUICK_TTL_SECONDS : TTL_SECONDS; // quick mode is a smoke test: no 30 s wait
    Latency probed = new Latency("connmgr (liveness probe " + LivenessPolicy.DEFAULT.probeInterval().toMillis()
        + " ms / " + LivenessPolicy.DEFAULT.probeTimeout().toMillis() + " ms)");
    Latency leaseBound = new Latency("connmgr without probes (lease TTL " + ttl + " s)");
    Map<String, Integer> statuses = new ConcurrentHashMap<>();
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    try (EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE).build());
      ConnectionManager bound = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE)
          .liveness(LivenessPolicy.DISABLED).build());
      try {
        cm.start().get(10, TimeUnit.SECONDS);
        bound.start().get(10, TimeUnit.SECONDS);
        for (int i = 0; i < trials; i++) {
          boolean baseline = i == 0; // one lease-bound trial: it takes the whole TTL
          long id = 300 + i;
          try (ChildJvm child = ChildJvm.start(LeasedServerMain.class, String.join(",", env.endpoints()), ROOT, ROLE,
              Long.toString(id), Integer.toString(ttl))) {
            child.awaitLine("READY ", Duration.ofSeconds(60));
            Env.await(() -> cm.serverState(ROLE, id) == ServerState.READY
                && bound.serverState(ROLE, id) == ServerState.READY, "querynode-" + id + " READY");
            AtomicLong cmEnded = new AtomicLong();
            AtomicLong boundEnded = new AtomicLong();
            Calls.hold(cm.channel(ROLE, id), 0, s -> {
              statuses.merge("connmgr " + s.getCode(), 1, Integer::sum);
              cmEnded.set(System.nanoTime());
            });
            if (baseline) {
              Calls.hold(bound.channel(ROLE, id), 0, s -> {
                statuses.merge("lease-bound " + s.getCode(), 1, Integer::sum);
                boundEnded.set(System.nanoTime());
              });
              requireOk(Calls.echo(bound.channel(ROLE, id), 5_000));
            }
            requireOk(Calls.echo(cm.channel(ROLE, id), 5_000)); // streams in order: the hold has arrived
            Process p = new ProcessBuilder("kill", "-STOP", Long.toString(child.process().pid())).start();
            p.waitFor(10, TimeUnit.SECONDS);
            long t0 = System.nanoTime();
            Env.await(() -> cmEnded.get() != 0, Duration.ofSeconds(ttl + 30L), "connmgr's call to end");
            probed.record(cmEnded.get() - t0);
            if (baseline) {
              Env.await(() -> boundEnded.get() != 0, Duration.ofSeconds(ttl + 30L),
                  "the lease-bound call to end");
              leaseBound.record(boundEnded.get() - t0);
            }
            new ProcessBuilder("kill", "-CONT", Long.toString(child.process().pid())).start()
                .waitFor(10, TimeUnit.SECONDS);
          }
        }
      } finally {
        cm.close();
        bound.close();
        cm.awaitTermination(Duration.ofSeconds(10));
        bound.awaitTermination(Duration.ofSeconds(10));
      }
    }
    ObjectNode f = results.node("frozenServer");
    f.put("leaseTtlSeconds", ttl);
    f.put("trials", trials);
    f.put("detectMs", Results.round(probed.maxMs()));
    f.put("detectP50Ms", Results.round(probed.p50Ms()));
    f.put("leaseBoundMs", Results.round(leaseBound.maxMs()));
    f.set("statuses", Results.MAPPER.valueToTree(new TreeMap<>(statuses)));
    String status = results.goal("frozenServer.detectMs", "<= 3000", probed.maxMs(), "ms", probed.maxMs() <= 3000);
    results.section("Frozen server: SIGSTOP while its lease is valid",
        "A server process (lease TTL " + ttl + " s" + (ttl == TTL_SECONDS ? ", Milvus' default" : ", quick mode")
            + ") has a call in flight; it is frozen with "
            + "SIGSTOP. Time from the signal to the call's end (UNAVAILABLE naming the liveness probe; a role channel "
            + "would re-issue an idempotent call instead). " + trials + " trials; the lease-bound baseline (the same "
            + "manager with liveness probes off) once, as it takes the whole TTL.")
        .row("frozen server detected (max)", ms(probed.maxMs()), "lease-bound " + ms(leaseBound.maxMs()),
            "sooner " + ratio(leaseBound.maxMs(), probed.maxMs()), "<= 3,000 ms", status)
        .row("frozen server detected (p50)", ms(probed.p50Ms()), "", "", "", "")
        .note("Statuses: " + new TreeMap<>(statuses) + ". Detection is at most the probe interval plus the probe "
            + "timeout after the freeze (a probe goes out every interval to each server with calls in flight; no answer "
            + "within the timeout means down). HTTP/2 keepalive (10 s, grpc-java's floor) would take longer.");
    results.chart(new Results.Chart("frozen-server.svg", "Server frozen (SIGSTOP) → in-flight call ended",
        List.of(probed, leaseBound), "connmgr's liveness probe vs waiting for the lease to expire"));
  }

  private static void requireOk(Status s) {
    if (!s.isOk()) {
      throw new IllegalStateException("echo failed: " + s);
    }
  }
}
