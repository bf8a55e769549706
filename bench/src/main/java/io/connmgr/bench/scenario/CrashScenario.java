package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.testservers.ChildJvm;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Crash: a server process ({@link LeasedServerMain}: an echo server whose session lease it keeps alive itself, TTL
 * {@value #TTL_SECONDS} s) has a {@code Hold} call in flight from connmgr and one from a plain grpc-java channel with
 * default settings; then the process is
 *
 * <ul>
 *   <li><b>killed with kill -9</b>: the kernel closes its sockets, both clients see the connection drop;
 *   <li><b>frozen with SIGSTOP</b> (hung, its sockets open, nothing answers): connmgr fails the call when a liveness
 *       probe goes unanswered or the session's lease expires (the process stopped renewing it), whichever is first; the
 *       plain channel has nothing to notice and waits for its
 *       deadline (the baseline cap).
 * </ul>
 *
 * Time from the signal to the call's failure. Fewer trials than the latency scenarios (each needs a new JVM): 1 + 1 in
 * quick mode, 15 + 10 in full mode. A frozen process is killed once its baseline call has ended; trials overlap.
 */
public final class CrashScenario implements Scenario {

  static final String ROOT = "bench/crash/";
  static final String ROLE = "crashnode";
  static final int TTL_SECONDS = 2;

  @Override
  public String name() {
    return "crash";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int kills = env.trials(1, 15);
    int stops = env.trials(1, 10);
    long cap = env.baselineDeadlineMs();
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    Latency killCm = new Latency("kill -9: connmgr");
    Latency killPlain = new Latency("kill -9: plain grpc-java (defaults)");
    Latency stopCm = new Latency("SIGSTOP: connmgr (lease TTL " + TTL_SECONDS + " s)");
    Latency stopPlain = new Latency("SIGSTOP: plain grpc-java (deadline " + cap + " ms)");
    Map<String, Integer> statuses = new ConcurrentHashMap<>();
    AtomicInteger pending = new AtomicInteger();
    List<ChildJvm> children = new ArrayList<>();
    try (EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE).build());
      try {
        cm.start().get(10, TimeUnit.SECONDS);
        for (int i = 0; i < kills + stops; i++) {
          boolean kill = i < kills;
          long id = 100 + i;
          ChildJvm child = ChildJvm.start(LeasedServerMain.class, String.join(",", env.endpoints()), ROOT, ROLE,
              Long.toString(id), Integer.toString(TTL_SECONDS));
          children.add(child);
          String address = child.awaitLine("READY ", Duration.ofSeconds(60)).substring("READY ".length());
          Env.await(() -> cm.serverState(ROLE, id) == ServerState.READY, "crashnode-" + id + " READY");
          ManagedChannel plain = NettyChannelBuilder.forTarget(address).usePlaintext().build();
          AtomicLong t0 = new AtomicLong();
          AtomicLong cmFailed = new AtomicLong();
          Calls.hold(cm.channel(ROLE, id), 60_000, s -> {
            statuses.merge((kill ? "kill9 connmgr " : "sigstop connmgr ") + s.getCode(), 1, Integer::sum);
            cmFailed.set(System.nanoTime());
          });
          pending.incrementAndGet();
          Calls.hold(plain, cap, s -> {
            (kill ? killPlain : stopPlain).record(System.nanoTime() - t0.get());
            statuses.merge((kill ? "kill9 plain " : "sigstop plain ") + s.getCode(), 1, Integer::sum);
            plain.shutdownNow();
            child.close(); // a frozen process is killed once its baseline is measured
            pending.decrementAndGet();
          });
          // HTTP/2 keeps a connection's streams in order: once an echo after the hold is answered, the hold arrived
          requireOk(Calls.echo(plain, 5_000), "plain echo");
          requireOk(Calls.echo(cm.channel(ROLE, id), 5_000), "connmgr echo");
          if (kill) {
            t0.set(System.nanoTime());
            child.kill();
          } else {
            Process p = new ProcessBuilder("kill", "-STOP", Long.toString(child.process().pid())).start();
            p.waitFor(10, TimeUnit.SECONDS);
            t0.set(System.nanoTime());
          }
          Env.await(() -> cmFailed.get() != 0, Duration.ofSeconds(TTL_SECONDS + 30L), "connmgr's call to fail");
          (kill ? killCm : stopCm).record(cmFailed.get() - t0.get());
        }
        Env.await(() -> pending.get() == 0, Duration.ofMillis(cap + 30_000), "the baseline calls to end");
      } finally {
        cm.close();
        children.forEach(ChildJvm::close);
      }
    }
    ObjectNode c = results.node("crash");
    c.put("leaseTtlSeconds", TTL_SECONDS);
    c.put("baselineDeadlineMs", cap);
    killCm.writeTo(c.putObject("kill9").putObject("connmgr"));
    killPlain.writeTo(((ObjectNode) c.get("kill9")).putObject("grpcDefaults"));
    stopCm.writeTo(c.putObject("sigstop").putObject("connmgr"));
    stopPlain.writeTo(((ObjectNode) c.get("sigstop")).putObject("grpcDefaults"));
    c.set("statuses", Results.MAPPER.valueToTree(new TreeMap<>(statuses)));
    results.section("Crash: the server process killed (kill -9) or frozen (SIGSTOP)",
        "A server process whose session lease it renews itself (TTL " + TTL_SECONDS + " s) has a call in flight "
            + "from connmgr and one from a plain grpc-java channel with default settings (deadline " + cap + " ms); "
            + "time from the signal to each call's failure. " + kills + " kill -9 and " + stops + " SIGSTOP trials "
            + "(each needs a fresh JVM, hence fewer than 200).")
        .row("kill -9 (p50)", ms(killCm.p50Ms()), "grpc-java defaults " + ms(killPlain.p50Ms()),
            ratio(killCm.p50Ms(), killPlain.p50Ms()), "", "")
        .row("kill -9 (max)", ms(killCm.maxMs()), "grpc-java defaults " + ms(killPlain.maxMs()),
            ratio(killCm.maxMs(), killPlain.maxMs()), "", "")
        .row("SIGSTOP (p50)", ms(stopCm.p50Ms()), "grpc-java defaults " + ms(stopPlain.p50Ms()),
            "sooner " + ratio(stopPlain.p50Ms(), stopCm.p50Ms()), "", "")
        .row("SIGSTOP (max)", ms(stopCm.maxMs()), "grpc-java defaults " + ms(stopPlain.maxMs()),
            "sooner " + ratio(stopPlain.maxMs(), stopCm.maxMs()), "", "")
        .note("How the calls ended: " + new TreeMap<>(statuses) + ". After kill -9 the kernel resets the "
            + "connection, so grpc-java fails the call as fast as connmgr does. A frozen server leaves the connection "
            + "open: connmgr fails the call when a liveness probe goes unanswered (probe interval + timeout) "
            + "or the session's lease runs out (at most the TTL after the last renewal, plus etcd's expiry sweep), "
            + "whichever comes first, while grpc-java's defaults (no keepalive, no deadline) would wait "
            + "forever; here the baseline's " + cap + " ms deadline ends it.");
    results.chart(new Results.Chart("crash.svg", "Server killed or frozen → in-flight call failed",
        List.of(stopCm, stopPlain, killCm, killPlain),
        "kill -9: both see the reset. SIGSTOP: connmgr probes (or follows the lease); grpc-java waits for the deadline."));
  }

  private static void requireOk(Status s, String what) {
    if (!s.isOk()) {
      throw new IllegalStateException(what + " failed: " + s);
    }
  }
}
