package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ReissuePolicy;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.StreamRequest;
import io.connmgr.testservers.ChildJvm;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Rolling restart (issue 11): five server processes ({@link RestartableServerMain}, each registering its own session
 * under a lease, TTL {@value #TTL_SECONDS} s) under steady load from three clients in the same run:
 *
 * <ul>
 *   <li><b>connmgr</b>: {@link ConnectionManager#roleChannel} with the default {@link ReissuePolicy};
 *   <li><b>noReissue</b>: the same role channel with {@link ReissuePolicy#DISABLED} (pick per call, fail fast);
 *   <li><b>grpcRetry</b>: grpc-java {@code round_robin} with a {@code retryPolicy} (UNAVAILABLE retryable, 5
 *       attempts) on a resolver fed the same sessions (a connmgr subscription: stopping sessions are dropped, removed
 *       ones too).
 * </ul>
 *
 * Each client sends idempotent unary calls ({@code Echo}, declared safe), non-idempotent unary calls ({@code Append})
 * and server-streaming calls ({@code Stream}, 5 messages 20 ms apart), paced open-loop, deadline 10 s. After a steady
 * phase, each server in turn is restarted (Stopping → drain up to 2 s → deregister → exit → a new process registers);
 * then one server is killed with kill -9, and one frozen with SIGSTOP beyond its lease TTL. The servers print every
 * {@code Append} they receive, so a failed write that no server saw (never processed) and a write executed twice are
 * counted exactly.
 */
public final class RollingRestartScenario implements Scenario {

  static final String ROOT = "bench/rolling/";
  static final String ROLE = "rollnode";
  static final int TTL_SECONDS = 6;
  static final int SERVERS = 5;
  static final long DRAIN_MS = 2_000;
  static final long DEADLINE_MS = 10_000;
  static final int ECHO_PER_SECOND = 500;
  static final int APPEND_PER_SECOND = 50;
  static final int STREAM_PER_SECOND = 10;

  private static final int STEADY = 1;
  private static final int RESTART = 2;
  private static final int CRASH = 3;
  /** Inside the restart phase: from a new server process's launch until it is READY (JVM start-up on the cores). */
  private static final int JOIN = 4;

  @Override
  public String name() {
    return "rollingRestart";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    long warmupMs = env.quick() ? 6_000 : 20_000;
    long steadyMs = env.quick() ? 3_000 : 10_000;
    String endpoints = String.join(",", env.endpoints());
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    List<ChildJvm> all = new ArrayList<>();
    ChildJvm[] current = new ChildJvm[SERVERS + 1];
    ConcurrentLinkedQueue<Long> departures = new ConcurrentLinkedQueue<>();
    ManualResolver mirror = new ManualResolver();
    phase.set(0);
    try (EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
      for (int id = 1; id <= SERVERS; id++) {
        current[id] = startServer(endpoints, id, all);
      }
      Subscription feed = discovery.subscribe(ROLE, new SessionListener() {
        @Override
        public void onEvent(SessionEvent e) {
          String key = e.key();
          if (e.type() == SessionEvent.Type.REMOVED) {
            departures.add(System.nanoTime());
            mirror.remove(key);
          } else if (e.session().stopping()) {
            mirror.remove(key);
          } else {
            mirror.put(key, new InetSocketAddress(e.session().host(), e.session().port()));
          }
        }
      }, Runnable::run);
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).roles(ROLE).build());
      ConnectionManager cmNo = ConnectionManager.create(ConnectionOptions.builder(discovery).roles(ROLE)
          .reissue(ReissuePolicy.DISABLED).build());
      ManagedChannel grpc = NettyChannelBuilder.forTarget(ManualResolver.SCHEME + ":///" + ROLE)
          .nameResolverFactory(mirror).defaultServiceConfig(retryServiceConfig()).enableRetry().usePlaintext()
          .build();
      List<Load> loads = new ArrayList<>();
      try {
        cm.start().get(10, TimeUnit.SECONDS);
        cmNo.start().get(10, TimeUnit.SECONDS);
        loads.add(new Load("connmgr", cm.roleChannel(ROLE)));
        loads.add(new Load("noReissue", cmNo.roleChannel(ROLE)));
        loads.add(new Load("grpcRetry", grpc));
        Env.await(() -> ready(cm) == SERVERS && ready(cmNo) == SERVERS, Duration.ofSeconds(30), "5 servers READY");
        for (Load l : loads) {
          l.start();
        }
        Thread.sleep(warmupMs); // warm-up (JIT), not measured: a benchmark's pacing, not a test's wait
        phase.set(STEADY);
        Thread.sleep(steadyMs);

        phase.set(RESTART);
        long restartStart = System.nanoTime();
        for (int id = 1; id <= SERVERS; id++) {
          ChildJvm old = current[id];
          old.send("STOP " + DRAIN_MS);
          old.awaitLine("DEREGISTERED", Duration.ofSeconds(30));
          old.process().waitFor(30, TimeUnit.SECONDS);
          phase.set(JOIN);
          current[id] = startServer(endpoints, id, all);
          int sid = id;
          Env.await(() -> cm.serverState(ROLE, sid) == ServerState.READY
              && cmNo.serverState(ROLE, sid) == ServerState.READY, Duration.ofSeconds(30), "restarted server READY");
          phase.set(RESTART);
        }
        long restartMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - restartStart);
        Thread.sleep(500);

        phase.set(CRASH);
        departures.add(System.nanoTime());
        current[1].kill(); // kill -9: the kernel resets its connections; its lease runs out after the TTL
        Env.await(() -> cm.serverState(ROLE, 1) == null, Duration.ofSeconds(TTL_SECONDS + 30L), "killed one removed");
        new ProcessBuilder("kill", "-STOP", Long.toString(current[2].process().pid())).start()
            .waitFor(10, TimeUnit.SECONDS);
        Env.await(() -> cm.serverState(ROLE, 2) == null, Duration.ofSeconds(TTL_SECONDS + 30L), "frozen one removed");
        Thread.sleep(500);
        current[2].kill();

        for (Load l : loads) {
          l.stop();
        }
        for (Load l : loads) {
          Env.await(() -> l.inFlight.get() == 0, Duration.ofMillis(DEADLINE_MS + 10_000), l.name + " calls ended");
        }
        Map<String, Integer> processed = new HashMap<>();
        for (ChildJvm c : all) {
          for (String line : c.lines()) {
            if (line.startsWith("A ")) {
              processed.merge(line.substring(2), 1, Integer::sum);
            }
          }
        }
        report(results, loads, processed, departures, cm.stats().reissued(), cmNo.stats().reissued(), restartMs);
      } finally {
        for (Load l : loads) {
          l.stop();
        }
        feed.close();
        cm.close();
        cmNo.close();
        grpc.shutdownNow();
        all.forEach(ChildJvm::close);
      }
    }
  }

  /** The current phase; a field of the scenario run (one at a time). */
  private final AtomicLong phase = new AtomicLong();

  private static ChildJvm startServer(String endpoints, int id, List<ChildJvm> all) throws Exception {
    // C1 only and the serial collector: five server JVMs and their restarts share two cores with the clients
    ChildJvm child = ChildJvm.java(List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp",
        System.getProperty("java.class.path"), RestartableServerMain.class.getName(), endpoints, ROOT, ROLE,
        Integer.toString(id), Integer.toString(TTL_SECONDS)), Map.of());
    all.add(child);
    child.awaitLine("READY ", Duration.ofSeconds(60));
    return child;
  }

  private static int ready(ConnectionManager cm) {
    var r = cm.stats().roles().get(ROLE);
    return r == null ? 0 : r.ready();
  }

  private static Map<String, ?> retryServiceConfig() {
    Map<String, Object> retry = Map.of("maxAttempts", 5.0, "initialBackoff", "0.05s", "maxBackoff", "1s",
        "backoffMultiplier", 2.0, "retryableStatusCodes", List.of("UNAVAILABLE"));
    return Map.of("loadBalancingConfig", List.of(Map.of("round_robin", Map.of())),
        "methodConfig", List.of(Map.of("name", List.of(Map.of("service", EchoServiceGrpc.SERVICE_NAME)),
            "retryPolicy", retry)));
  }

  /** One client's open-loop load and what happened to it. */
  private final class Load {
    final String name;
    final Channel channel;
    final AtomicLong inFlight = new AtomicLong();
    final Map<String, AtomicLong> counts = new ConcurrentHashMap<>();
    final Latency steady;
    final Latency restart;
    final Latency crash;
    final Latency leave;
    /** Distinct failure descriptions (digits masked) and the phase each was first seen in; 20 at most. */
    final Map<String, Long> samples = new ConcurrentHashMap<>();
    /** Failed Append calls: message id to {failure time, phase}. */
    final Map<String, long[]> failedAppends = new ConcurrentHashMap<>();
    private final ScheduledExecutorService pacer;
    private long started;
    private long echoes;
    private long appends;
    private long streams;
    private volatile boolean running = true;

    Load(String name, Channel channel) {
      this.name = name;
      this.channel = channel;
      this.steady = new Latency(name + ": Echo, steady");
      this.restart = new Latency(name + ": Echo, during the rolling restart");
      this.crash = new Latency(name + ": Echo, kill -9 and SIGSTOP");
      this.leave = new Latency(name + ": Echo, while a server leaves (Stopping → drain → deregister → exit)");
      this.pacer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "rolling-load-" + name);
        t.setDaemon(true);
        return t;
      });
    }

    void start() {
      started = System.nanoTime();
      pacer.scheduleAtFixedRate(this::tick, 0, 2, TimeUnit.MILLISECONDS);
    }

    void stop() {
      running = false;
      pacer.shutdownNow();
    }

    private void count(String what) {
      counts.computeIfAbsent(what, k -> new AtomicLong()).incrementAndGet();
    }

    /** Counts {@code what} overall and in the phase the call started in. */
    private void count(String what, long at) {
      count(what);
      count(what + "@" + (at == JOIN ? RESTART : at));
    }

    long get(String what, int at) {
      return get(what + "@" + at);
    }

    long get(String what) {
      AtomicLong a = counts.get(what);
      return a == null ? 0 : a.get();
    }

    private void tick() {
      if (!running) {
        return;
      }
      double seconds = (System.nanoTime() - started) / 1e9;
      while (echoes < seconds * ECHO_PER_SECOND) {
        echoes++;
        echo();
      }
      while (appends < seconds * APPEND_PER_SECOND) {
        appends++;
        append(name + "-" + appends);
      }
      while (streams < seconds * STREAM_PER_SECOND) {
        streams++;
        stream();
      }
    }

    private void echo() {
      long t0 = System.nanoTime();
      long at = phase.get();
      inFlight.incrementAndGet();
      count("echo");
      EchoServiceGrpc.newStub(channel).withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS)
          .echo(EchoRequest.newBuilder().setMessage("e").build(), new Done<>(() -> {
            long took = System.nanoTime() - t0;
            if (at == STEADY) {
              steady.record(took);
            } else if (at == RESTART) {
              restart.record(took);
              leave.record(took);
            } else if (at == JOIN) {
              restart.record(took);
            } else if (at == CRASH) {
              crash.record(took);
            }
          }, s -> count("echoFailed", at)));
    }

    private void append(String id) {
      long at = phase.get();
      inFlight.incrementAndGet();
      count("append");
      EchoServiceGrpc.newStub(channel).withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS)
          .append(EchoRequest.newBuilder().setMessage(id).build(), new Done<>(() -> { }, s -> {
            count("appendFailed", at);
            failedAppends.put(id, new long[] {System.nanoTime(), at == JOIN ? RESTART : at});
          }));
    }

    private void stream() {
      long at = phase.get();
      inFlight.incrementAndGet();
      count("stream");
      AtomicLong messages = new AtomicLong();
      EchoServiceGrpc.newStub(channel).withDeadlineAfter(DEADLINE_MS, TimeUnit.MILLISECONDS)
          .stream(StreamRequest.newBuilder().setCount(5).setIntervalMillis(20).build(), new Done<>(() -> { }, s -> {
            count(messages.get() == 0 ? "streamFailed" : "streamFailedAfterFirstMessage", at);
          }) {
            @Override
            public void onNext(EchoResponse value) {
              messages.incrementAndGet();
            }
          });
    }

    /** Ends a call: success or failure, then one less in flight. */
    private class Done<T> implements StreamObserver<T> {
      private final Runnable ok;
      private final java.util.function.Consumer<Status> failed;

      Done(Runnable ok, java.util.function.Consumer<Status> failed) {
        this.ok = ok;
        this.failed = failed;
      }

      @Override
      public void onNext(T value) {}

      @Override
      public void onError(Throwable t) {
        Status s = Status.fromThrowable(t);
        count("status " + s.getCode());
        String why = s.getCode() + ": " + s.getDescription();
        if (samples.size() < 20) {
          samples.putIfAbsent(why.replaceAll("[0-9]+", "N"), phase.get());
        }
        failed.accept(s);
        inFlight.decrementAndGet();
      }

      @Override
      public void onCompleted() {
        ok.run();
        inFlight.decrementAndGet();
      }
    }
  }

  private static void report(Results results, List<Load> loads, Map<String, Integer> processed,
      ConcurrentLinkedQueue<Long> departures, long reissued, long reissuedNo, long restartMs) {
    List<Long> events = new ArrayList<>(departures);
    events.sort(Long::compare);
    ObjectNode root = results.node("rollingRestart");
    root.put("servers", SERVERS);
    root.put("leaseTtlSeconds", TTL_SECONDS);
    root.put("restartMs", restartMs);
    root.put("echoPerSecond", ECHO_PER_SECOND);
    root.put("appendPerSecond", APPEND_PER_SECOND);
    root.put("streamPerSecond", STREAM_PER_SECOND);
    Results.Section section = results.section("Rolling restart: 5 server processes restarted one by one under load,"
        + " then one killed (kill -9) and one frozen (SIGSTOP) beyond its lease TTL",
        "Three clients in the same run, each " + ECHO_PER_SECOND + " Echo (safe) + " + APPEND_PER_SECOND
            + " Append (not idempotent) + " + STREAM_PER_SECOND + " Stream calls/s, deadline " + DEADLINE_MS
            + " ms. Each server: Stopping → drain (≤ " + DRAIN_MS + " ms) → deregister → exit → a new process"
            + " registers. The rolling restart took " + restartMs + " ms. Failed idempotent = failed Echo + failed"
            + " Stream calls that had received no message; never processed = failed Append calls that no server"
            + " printed; duplicated = Append calls some server printed twice.");
    for (Load l : loads) {
      ObjectNode n = root.putObject(l.name);
      ObjectNode crash = n.putObject("crash");
      boolean main = l.name.equals("connmgr");
      Latency lag = new Latency(l.name + ": departure → non-idempotent call failed");
      long[] neverProcessed = new long[CRASH + 1];
      for (Map.Entry<String, long[]> f : l.failedAppends.entrySet()) {
        long failedAt = f.getValue()[0];
        if (processed.getOrDefault(f.getKey(), 0) == 0) {
          neverProcessed[(int) f.getValue()[1]]++;
        }
        long before = Long.MIN_VALUE;
        for (long e : events) {
          if (e <= failedAt) {
            before = e;
          }
        }
        if (before != Long.MIN_VALUE) {
          lag.record(failedAt - before);
        }
      }
      long duplicated = 0;
      for (Map.Entry<String, Integer> p : processed.entrySet()) {
        if (p.getKey().startsWith(l.name + "-") && p.getValue() > 1) {
          duplicated++;
        }
      }
      long failedIdempotent = l.get("echoFailed", RESTART) + l.get("streamFailed", RESTART);
      long crashIdempotent = l.get("echoFailed", CRASH) + l.get("streamFailed", CRASH);
      n.put("calls", l.get("echo") + l.get("append") + l.get("stream"));
      n.put("echoCalls", l.get("echo"));
      n.put("appendCalls", l.get("append"));
      n.put("streamCalls", l.get("stream"));
      n.put("failedIdempotent", failedIdempotent);
      n.put("failedNonIdempotent", l.get("appendFailed", RESTART));
      n.put("failedNeverProcessed", neverProcessed[RESTART]);
      n.put("failedSteady", l.get("echoFailed", STEADY) + l.get("streamFailed", STEADY)
          + l.get("appendFailed", STEADY));
      n.put("duplicatedNonIdempotent", duplicated);
      if (main) {
        n.put("reissued", reissued);
      } else if (l.name.equals("noReissue")) {
        n.put("reissued", reissuedNo);
      }
      n.put("p50Ms", Results.round(l.restart.p50Ms()));
      n.put("p99Ms", Results.round(l.restart.p99Ms()));
      n.put("maxMs", Results.round(l.restart.maxMs()));
      n.put("leaveP99Ms", Results.round(l.leave.p99Ms()));
      n.put("steadyP50Ms", Results.round(l.steady.p50Ms()));
      n.put("steadyP99Ms", Results.round(l.steady.p99Ms()));
      n.put("nonIdempotentFailLagP99Ms", lag.count() == 0 ? 0 : Results.round(lag.p99Ms()));
      crash.put("failedIdempotent", crashIdempotent);
      crash.put("failedNonIdempotent", l.get("appendFailed", CRASH));
      crash.put("failedNonIdempotentNoServerSawIt", neverProcessed[CRASH]);
      crash.put("failedStreamsAfterFirstMessage", l.get("streamFailedAfterFirstMessage", CRASH));
      crash.put("p99Ms", Results.round(l.crash.p99Ms()));
      crash.put("maxMs", Results.round(l.crash.maxMs()));
      Map<String, Long> statuses = new java.util.TreeMap<>();
      l.counts.forEach((k, v) -> {
        if (k.startsWith("status ")) {
          statuses.put(k.substring(7), v.get());
        }
      });
      n.set("statuses", Results.MAPPER.valueToTree(statuses));
      n.set("failures", Results.MAPPER.valueToTree(new java.util.TreeMap<>(l.samples)));
      section.row(l.name + ", rolling restart: failed idempotent / never processed / non-idempotent",
          failedIdempotent + " / " + neverProcessed[RESTART] + " / " + l.get("appendFailed", RESTART),
          "", "", main ? "0 / 0 / –" : "",
          main ? results.goal("rollingRestart.connmgr.failedIdempotent", "0", failedIdempotent, "calls",
              failedIdempotent == 0) + ", " + results.goal("rollingRestart.connmgr.failedNeverProcessed", "0",
              neverProcessed[RESTART], "calls", neverProcessed[RESTART] == 0) : "");
      section.row(l.name + ": Echo p50 / p99 / max, steady", ms(l.steady.p50Ms()) + " / " + ms(l.steady.p99Ms())
          + " / " + ms(l.steady.maxMs()), "", "", "", "");
      section.row(l.name + ": Echo p50 / p99 / max, rolling restart", ms(l.restart.p50Ms()) + " / "
          + ms(l.restart.p99Ms()) + " / " + ms(l.restart.maxMs()), "", "", main ? "p99 ≤ 2× steady" : "",
          main ? results.goal("rollingRestart.connmgr.p99Ms (≤ 2× steadyP99Ms)",
              "≤ " + Results.round(2 * l.steady.p99Ms()) + " ms", l.restart.p99Ms(), "ms",
              l.restart.p99Ms() <= 2 * l.steady.p99Ms()) : "");
      section.row(l.name + ": Echo p50 / p99 / max, only while a server leaves (no JVM starting)",
          ms(l.leave.p50Ms()) + " / " + ms(l.leave.p99Ms()) + " / " + ms(l.leave.maxMs()), "", "", "", "");
      section.row(l.name + ", kill -9 + SIGSTOP: failed idempotent / non-idempotent (no server saw it) / streams"
          + " after a message", crashIdempotent + " / " + l.get("appendFailed", CRASH) + " (" + neverProcessed[CRASH]
          + ") / " + l.get("streamFailedAfterFirstMessage", CRASH), "", "", "", "");
      section.row(l.name + ": Echo p99 / max, kill -9 and SIGSTOP", ms(l.crash.p99Ms()) + " / "
          + ms(l.crash.maxMs()), "", "", "", "");
      if (lag.count() > 0) {
        section.row(l.name + ": departure → non-idempotent call failed (p50 / p99)", ms(lag.p50Ms()) + " / "
            + ms(lag.p99Ms()), "", "", "", "");
      }
      section.note(l.name + ": " + n.get("calls") + " calls, statuses of the failed ones " + statuses
          + (n.has("reissued") ? ", re-issued " + n.get("reissued") : "") + ", duplicated writes " + duplicated
          + ".");
    }
    section.note("The rolling-restart window includes each new server process's start-up: a JVM booting on the same"
        + " two cores slows every client alike (compare the three clients' p99); the 'while a server leaves' rows"
        + " leave those windows out.");
    section.note("A frozen server (SIGSTOP) keeps its connection open: its calls wait until its lease expires "
        + "(TTL " + TTL_SECONDS + " s), then connmgr re-issues the idempotent ones; the crash-phase latencies show "
        + "that wait. Detecting a frozen server sooner is the health issue's keepalive, not re-issue.");
  }
}
