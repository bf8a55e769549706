package io.connmgr.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ReissuePolicy;
import io.connmgr.connection.ServerClient;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.Discovery;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Registration;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Registry;
import io.connmgr.discovery.Session;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.connmgr.testservers.EchoServer;
import io.connmgr.testservers.LocalEtcd;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code connmgr demo}: the whole story in under a minute. Demo servers register sessions; a client on
 * {@link ConnectionManager} keeps calls flowing; one server is deregistered while calls to it are in flight and they
 * fail at once, beside the same call on a plain grpc-java channel that waits for its deadline; the server comes back
 * and the client restores by itself. Then every server is restarted in turn, as a well-behaved server restarts, under
 * steady traffic through connmgr's role channel (no call fails: what a leaving server had not answered is re-issued)
 * and through a plain grpc-java {@code round_robin} channel. Exit 0 only if every step behaved.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Show fail-fast on deregistration, automatic restore and a rolling restart, beside plain grpc-java. "
        + "Runs on an embedded in-memory registry unless --etcd or --spawn-etcd is given.")
final class DemoCommand implements Callable<Integer> {

  private static final String ROLE = "querynode";
  /** How long a restarting server waits for its calls in flight before it deregisters. */
  private static final Duration DRAIN = Duration.ofMillis(300);
  private static final long SLOW_READ_MILLIS = 1_000;

  @Option(names = "--etcd", paramLabel = "URL", description = "use this etcd instead of the embedded registry")
  String etcdUrl;

  @Mixin
  EtcdSecurity security = new EtcdSecurity();

  @Option(names = "--spawn-etcd", description = "start a local etcd process (needs the etcd binary) and use it")
  boolean spawnEtcd;

  @Option(names = "--servers", defaultValue = "3", description = "demo servers to start (default: ${DEFAULT-VALUE})")
  int serverCount;

  @Option(names = "--calls", defaultValue = "3",
      description = "calls held in flight to the server that is deregistered (default: ${DEFAULT-VALUE})")
  int heldCalls;

  @Option(names = "--baseline-deadline", defaultValue = "3", paramLabel = "SECONDS",
      description = "deadline of the plain grpc-java call (default: ${DEFAULT-VALUE})")
  int baselineSeconds;

  @Option(names = "--json", description = "end with one JSON object on the last line of stdout")
  boolean json;

  @Spec
  CommandSpec spec;

  private PrintWriter out;
  private int step;
  private static final int STEPS = 7;

  @Override
  public Integer call() throws Exception {
    out = spec.commandLine().getOut();
    if (serverCount < 2) {
      throw new IllegalArgumentException("--servers: at least 2 are needed (one is deregistered), was " + serverCount);
    }
    if (heldCalls < 1 || baselineSeconds < 1) {
      throw new IllegalArgumentException("--calls and --baseline-deadline must be at least 1");
    }
    if (etcdUrl != null && spawnEtcd) {
      throw new IllegalArgumentException("--etcd and --spawn-etcd: choose one");
    }
    List<AutoCloseable> resources = new ArrayList<>();
    long demoStart = System.nanoTime();
    try {
      // 1. the backend
      progress("starting the session registry");
      Discovery discovery;
      Registry registry;
      String backend;
      if (etcdUrl != null || spawnEtcd) {
        String url = etcdUrl;
        if (spawnEtcd) {
          LocalEtcd etcd = LocalEtcd.singleMember();
          resources.add(etcd);
          etcd.start();
          url = etcd.clientEndpoint(0);
        }
        EtcdDiscovery.Builder eb = EtcdDiscovery.builder().endpoints(url).root("connmgr-demo/" + System.nanoTime() + "/");
        try {
          security.apply(eb, System.getenv());
        } catch (IllegalArgumentException ex) {
          throw new IllegalArgumentException(EtcdSecurity.optionNames(ex.getMessage()), ex);
        }
        EtcdDiscovery e = eb.build();
        resources.add(e);
        discovery = e;
        registry = e;
        backend = "etcd at " + url;
      } else {
        InMemoryRegistry m = InMemoryRegistry.create();
        resources.add(m);
        discovery = m;
        registry = m;
        backend = "embedded in-memory registry";
      }
      detail("backend: " + backend);

      // 2. servers register
      progress("starting " + serverCount + " demo servers and registering their sessions");
      List<EchoServer> servers = new ArrayList<>();
      List<Registration> registrations = new ArrayList<>();
      for (int i = 1; i <= serverCount; i++) {
        EchoServer s = EchoServer.start(i, ROLE);
        resources.add(s);
        servers.add(s);
        registrations.add(register(registry, s));
      }

      // 3. the client
      progress("starting the client (ConnectionManager) and sending traffic");
      long t0 = System.nanoTime();
      // the demo's Hold (a slow read here) is declared idempotent, as a read would be by its proto's idempotency_level
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE)
          .reissue(ReissuePolicy.DEFAULT.withIdempotentMethods(EchoServiceGrpc.getHoldMethod().getFullMethodName()))
          .build());
      resources.add(cm);
      cm.start();
      detail(String.format(Locale.ROOT, "create() + start() returned in %.2f ms, before any connection",
          ms(System.nanoTime() - t0)));
      boolean allReady = waitFor(Duration.ofSeconds(15), () -> ready(cm) == serverCount);
      detail(String.format(Locale.ROOT, "all %d servers ready after %.1f ms", serverCount, ms(System.nanoTime() - t0)));
      Traffic traffic = new Traffic("pick", () -> cm.pick(ROLE), 1, 200, 2);
      resources.add(traffic);
      traffic.start();
      waitFor(Duration.ofSeconds(5), () -> traffic.ok.get() > 20);
      table(cm, traffic);

      // 4. deregistration with calls in flight
      EchoServer victim = servers.get(1);
      progress("deregistering " + ROLE + "-" + victim.serverId() + " with " + heldCalls
          + " call(s) in flight through connmgr and 1 through a plain grpc-java channel");
      List<CompletableFuture<Outcome>> managed = new ArrayList<>();
      for (int i = 0; i < heldCalls; i++) {
        managed.add(hold(cm.channel(ROLE, victim.serverId()), 60));
      }
      ManagedChannel plain = NettyChannelBuilder.forTarget(victim.address()).usePlaintext().build();
      resources.add(plain::shutdownNow);
      CompletableFuture<Outcome> baseline = hold(plain, baselineSeconds);
      boolean held = waitFor(Duration.ofSeconds(5), () -> victim.inFlightHolds() == heldCalls + 1);
      long okBefore = traffic.ok.get();
      // a clean step-down: Stopping first (no new calls go there; these held calls would drain if they could end),
      // then the lease is revoked and the session is gone: connmgr fails what is still in flight at once
      registrations.get(1).markStopping().get(10, TimeUnit.SECONDS);
      waitFor(Duration.ofSeconds(5), () -> cm.serverState(ROLE, victim.serverId()) == ServerState.STOPPING);
      long deregisteredAt = System.nanoTime();
      registrations.get(1).closeAsync();
      CompletableFuture.allOf(managed.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
      double failFastMs = 0;
      boolean failFastOk = held;
      String failStatus = "";
      for (CompletableFuture<Outcome> f : managed) {
        Outcome o = f.get();
        failFastMs = Math.max(failFastMs, ms(o.at - deregisteredAt));
        failStatus = o.status.getCode() + ": " + o.status.getDescription();
        failFastOk &= o.status.getCode() == Status.Code.UNAVAILABLE;
      }
      detail(String.format(Locale.ROOT, "connmgr:    %d call(s) failed after %.1f ms with %s", heldCalls, failFastMs,
          failStatus));
      detail("plain grpc-java: still waiting (deadline " + baselineSeconds + " s)...");
      Outcome b = baseline.get(baselineSeconds + 10L, TimeUnit.SECONDS);
      double baselineMs = ms(b.at - deregisteredAt);
      boolean baselineOk = b.status.getCode() == Status.Code.DEADLINE_EXCEEDED;
      detail(String.format(Locale.ROOT, "plain grpc-java: failed after %.1f ms with %s", baselineMs,
          b.status.getCode()));
      boolean trafficOk = traffic.ok.get() > okBefore;
      detail("traffic to the other servers went on: " + (traffic.ok.get() - okBefore) + " more successful calls");
      table(cm, traffic);

      // 5. the server comes back
      progress("re-registering " + ROLE + "-" + victim.serverId() + "; the client restores by itself");
      long restoreStart = System.nanoTime();
      Registration again = register(registry, victim);
      registrations.set(1, again);
      boolean restored = waitFor(Duration.ofSeconds(15), () -> {
        try {
          return echo(cm.channel(ROLE, victim.serverId()), 2).getServerId() == victim.serverId();
        } catch (RuntimeException e) {
          return false;
        }
      });
      double restoreMs = ms(System.nanoTime() - restoreStart);
      detail(String.format(Locale.ROOT, "first successful call to %s-%d %.1f ms after it registered again", ROLE,
          victim.serverId(), restoreMs));
      table(cm, traffic);
      long callsOk = traffic.ok.get();
      long callsFailed = traffic.failed.get();

      // 6. rolling restart: the same Echo traffic through connmgr's role channel and a plain round_robin channel
      progress("rolling restart of the " + serverCount + " servers under steady traffic (connmgr role channel beside "
          + "plain grpc-java round_robin)");
      List<InetSocketAddress> addresses = new ArrayList<>();
      for (EchoServer s : servers) {
        addresses.add(new InetSocketAddress(EchoServer.HOST, s.port())); // each restarts on its port: a fixed list
      }
      ManagedChannel roundRobin = StaticResolver.roundRobin("demo", addresses);
      resources.add(roundRobin::shutdownNow);
      Channel roleChannel = cm.roleChannel(ROLE);
      Traffic viaConnmgr = new Traffic("role-channel", () -> roleChannel, 2, 200, 5);
      Traffic viaGrpc = new Traffic("round-robin", () -> roundRobin, 2, 200, 5);
      // and slow reads that outlast a server's drain: still in flight when it deregisters
      Traffic slowConnmgr = new Traffic("role-channel-slow", () -> roleChannel, 2, 4, 5, DemoCommand::slowRead);
      Traffic slowGrpc = new Traffic("round-robin-slow", () -> roundRobin, 2, 4, 5, DemoCommand::slowRead);
      List<Traffic> all = List.of(viaConnmgr, viaGrpc, slowConnmgr, slowGrpc);
      resources.addAll(all);
      long reissuedBefore = cm.stats().reissued();
      all.forEach(Traffic::start);
      boolean rolled = waitFor(Duration.ofSeconds(10), () -> viaConnmgr.ok.get() > 20 && viaGrpc.ok.get() > 20);
      long rollStart = System.nanoTime();
      for (int i = 0; i < serverCount && rolled; i++) {
        rolled = restart(registry, cm, i, servers, registrations, resources, viaConnmgr);
        if (i < serverCount - 1) {
          // as an orchestrator waits a restarted server's minimum ready time before the next: a slow read moved off
          // one server is not caught by the next server's restart too (a call has 3 attempts)
          LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(SLOW_READ_MILLIS));
        }
      }
      double rollMs = ms(System.nanoTime() - rollStart);
      // the traffic goes on until the plain channel is answered by every server again (its reconnect backoff)
      long backStart = System.nanoTime();
      Map<Long, Long> before = new HashMap<>();
      servers.forEach(s -> before.put(s.serverId(), viaGrpc.served(s.serverId())));
      boolean baselineBack = waitFor(Duration.ofSeconds(10),
          () -> before.entrySet().stream().allMatch(e -> viaGrpc.served(e.getKey()) > e.getValue()));
      double baselineBackMs = ms(System.nanoTime() - backStart);
      all.forEach(Traffic::close);
      long reissued = cm.stats().reissued() - reissuedBefore;
      long cmCalls = viaConnmgr.calls() + slowConnmgr.calls();
      long cmFailed = viaConnmgr.failed.get() + slowConnmgr.failed.get();
      long grpcCalls = viaGrpc.calls() + slowGrpc.calls();
      long grpcFailed = viaGrpc.failed.get() + slowGrpc.failed.get();
      boolean rollingOk = rolled && cmCalls > 0 && cmFailed == 0;
      detail(String.format(Locale.ROOT, "%s %d servers one by one in %.1f s: Stopping, drain, deregister, stop, "
          + "start on the same port, register, READY", rolled ? "restarted" : "FAILED to restart", serverCount,
          rollMs / 1000));
      detail(String.format(Locale.ROOT, "connmgr role channel:        %d calls, %d failed, %d re-issued%s%s",
          cmCalls, cmFailed, reissued, viaConnmgr.firstFailure(), slowConnmgr.firstFailure()));
      detail(String.format(Locale.ROOT, "plain grpc-java round_robin: %d calls, %d failed%s%s", grpcCalls, grpcFailed,
          viaGrpc.firstFailure(), slowGrpc.firstFailure()));
      detail(baselineBack ? String.format(Locale.ROOT, "plain grpc-java answered by all %d servers again %.1f s after "
          + "the last restart (its reconnect backoff)", serverCount, baselineBackMs / 1000)
          : "plain grpc-java not answered by every server 10 s after the last restart");
      table(cm, traffic);

      // 7. summary
      progress("summary");
      boolean ok = allReady && failFastOk && baselineOk && trafficOk && restored && rollingOk;
      Table t = new Table("STEP", "RESULT", "");
      t.row("start-up", allReady ? "ok" : "FAILED", serverCount + " servers ready without blocking start()");
      t.row("fail-fast", failFastOk ? "ok" : "FAILED", String.format(Locale.ROOT, "%.1f ms (connmgr)", failFastMs));
      t.row("baseline", baselineOk ? "ok" : "FAILED", String.format(Locale.ROOT, "%.1f ms (plain grpc-java, %s)",
          baselineMs, b.status.getCode()));
      t.row("traffic", trafficOk ? "ok" : "FAILED", callsOk + " calls ok, " + callsFailed
          + " failed (calls that were on the deregistered server)");
      t.row("restore", restored ? "ok" : "FAILED", String.format(Locale.ROOT, "%.1f ms", restoreMs));
      t.row("rolling restart", rollingOk ? "ok" : "FAILED", String.format(Locale.ROOT,
          "%d of %d calls failed (connmgr, %d re-issued), %d of %d (plain grpc-java round_robin)",
          cmFailed, cmCalls, reissued, grpcFailed, grpcCalls));
      t.print(out);
      out.println(String.format(Locale.ROOT, "connmgr failed the calls %.0fx sooner than plain grpc-java; demo took "
          + "%.1f s", baselineMs / Math.max(failFastMs, 0.001), ms(System.nanoTime() - demoStart) / 1000));
      if (json) {
        ObjectNode n = Json.MAPPER.createObjectNode();
        n.put("ok", ok);
        n.put("backend", backend);
        n.put("failFastMs", round(failFastMs));
        n.put("baselineMs", round(baselineMs));
        n.put("restoreMs", round(restoreMs));
        n.put("failFastStatus", failStatus);
        n.put("callsOk", callsOk);
        n.put("callsFailed", callsFailed);
        ObjectNode r = n.putObject("rollingRestart");
        r.put("calls", cmCalls);
        r.put("failed", cmFailed);
        r.put("reissued", reissued);
        r.put("baselineCalls", grpcCalls);
        r.put("baselineFailed", grpcFailed);
        out.println(Json.MAPPER.writeValueAsString(n));
      }
      out.flush();
      return ok ? 0 : 1;
    } finally {
      for (int i = resources.size() - 1; i >= 0; i--) {
        try {
          resources.get(i).close();
        } catch (Exception e) {
          // best effort at exit
        }
      }
    }
  }

  private static Registration register(Registry registry, EchoServer s) throws Exception {
    return registry.register(Session.builder(ROLE, s.address()).serverId(s.serverId()).version("2.4.0").build(),
        Duration.ofSeconds(10), RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
  }

  /**
   * Restarts server {@code i} the way a well-behaved server does: Stopping (clients send it no new calls), up to
   * {@link #DRAIN} for its calls in flight to drain, deregistration, a graceful stop, then a new server on the same
   * port registers.
   * Keeps {@code servers}, {@code registrations} and {@code resources} pointing at the new one. True once connmgr has
   * it READY and {@code traffic} has had an answer from it.
   */
  private static boolean restart(Registry registry, ConnectionManager cm, int i, List<EchoServer> servers,
      List<Registration> registrations, List<AutoCloseable> resources, Traffic traffic) throws Exception {
    EchoServer old = servers.get(i);
    long id = old.serverId();
    registrations.get(i).markStopping().get(10, TimeUnit.SECONDS);
    boolean stopping = waitFor(Duration.ofSeconds(5), () -> cm.serverState(ROLE, id) == ServerState.STOPPING);
    waitFor(DRAIN, () -> old.inFlightCalls() == 0);
    registrations.get(i).closeAsync().get(10, TimeUnit.SECONDS);
    old.stopGracefully();
    EchoServer fresh = EchoServer.start(id, ROLE, old.port());
    resources.set(resources.indexOf(old), fresh);
    servers.set(i, fresh);
    long served = traffic.served(id);
    registrations.set(i, register(registry, fresh));
    return stopping && waitFor(Duration.ofSeconds(15), () -> cm.serverState(ROLE, id) == ServerState.READY)
        && waitFor(Duration.ofSeconds(5), () -> traffic.served(id) > served);
  }

  private static int ready(ConnectionManager cm) {
    var r = cm.stats().roles().get(ROLE);
    return r == null ? 0 : r.ready();
  }

  private void progress(String what) {
    step++;
    out.printf("[%d/%d] %s%n", step, STEPS, what);
    out.flush();
  }

  private void detail(String what) {
    out.println("      " + what);
    out.flush();
  }

  private void table(ConnectionManager cm, Traffic traffic) {
    Table t = new Table("      SERVER", "ADDRESS", "STATE", "CALLS OK");
    for (ServerClient c : cm.clients(ROLE)) {
      t.row("      " + ROLE + "-" + c.key().serverId(), c.key().address(), c.state().name(),
          Long.toString(traffic.served(c.key().serverId())));
    }
    t.print(out);
    out.flush();
  }

  private static boolean waitFor(Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
    }
    return true;
  }

  private record Outcome(Status status, long at) {}

  private static CompletableFuture<Outcome> hold(Channel ch, int deadlineSeconds) {
    CompletableFuture<Outcome> f = new CompletableFuture<>();
    EchoServiceGrpc.newStub(ch).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS)
        .hold(HoldRequest.newBuilder().build(), new StreamObserver<>() {
          @Override
          public void onNext(EchoResponse value) {}

          @Override
          public void onError(Throwable t) {
            f.complete(new Outcome(Status.fromThrowable(t), System.nanoTime()));
          }

          @Override
          public void onCompleted() {
            f.complete(new Outcome(Status.OK, System.nanoTime()));
          }
        });
    return f;
  }

  /** A slow read: a Hold the server answers after {@link #SLOW_READ_MILLIS}, longer than a server's drain. */
  private static EchoResponse slowRead(Channel ch, int deadlineSeconds) {
    return EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS)
        .hold(HoldRequest.newBuilder().setHoldMillis(SLOW_READ_MILLIS).setMessage("demo").build());
  }

  private static EchoResponse echo(Channel ch, int deadlineSeconds) {
    return EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS)
        .echo(EchoRequest.newBuilder().setMessage("demo").build());
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }

  /**
   * Echo calls on daemon threads, about {@code perSecond} in all, each on the channel {@code channel} gives at that
   * moment (so a {@code pick()} that throws counts as a failed call), counted per server.
   */
  private static final class Traffic implements AutoCloseable {
    final AtomicLong ok = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final Map<Long, AtomicLong> perServer = new ConcurrentHashMap<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final String name;
    private final Supplier<Channel> channel;
    private final int threads;
    private final long periodNanos;
    private final int deadlineSeconds;
    private final List<Thread> started = new ArrayList<>();
    private volatile Status firstFailure;
    private final Call call;

    /** One call of the traffic. */
    interface Call {
      EchoResponse make(Channel channel, int deadlineSeconds);
    }

    Traffic(String name, Supplier<Channel> channel, int threads, int perSecond, int deadlineSeconds) {
      this(name, channel, threads, perSecond, deadlineSeconds, DemoCommand::echo);
    }

    Traffic(String name, Supplier<Channel> channel, int threads, int perSecond, int deadlineSeconds,
        Call call) {
      this.call = call;
      this.name = name;
      this.channel = channel;
      this.threads = threads;
      this.periodNanos = TimeUnit.SECONDS.toNanos(threads) / perSecond;
      this.deadlineSeconds = deadlineSeconds;
    }

    void start() {
      for (int i = 0; i < threads; i++) {
        Thread thread = new Thread(this::run, "connmgr-demo-traffic-" + name + "-" + i);
        thread.setDaemon(true);
        started.add(thread);
        thread.start();
      }
    }

    private void run() {
      while (running.get()) {
        try {
          EchoResponse r = call.make(channel.get(), deadlineSeconds);
          ok.incrementAndGet();
          perServer.computeIfAbsent(r.getServerId(), k -> new AtomicLong()).incrementAndGet();
        } catch (RuntimeException e) {
          failed.incrementAndGet();
          if (firstFailure == null) {
            firstFailure = Status.fromThrowable(e);
          }
        }
        LockSupport.parkNanos(periodNanos);
      }
    }

    long calls() {
      return ok.get() + failed.get();
    }

    long served(long serverId) {
      AtomicLong n = perServer.get(serverId);
      return n == null ? 0 : n.get();
    }

    /** {@code ""}, or {@code " (first: CODE: description)"}. */
    String firstFailure() {
      Status s = firstFailure;
      return s == null ? "" : " (first: " + s.getCode() + ": " + s.getDescription() + ")";
    }

    /** Stops sending and waits for the calls in flight to end. Idempotent. */
    @Override
    public void close() {
      running.set(false);
      try {
        for (Thread t : started) {
          t.join(TimeUnit.SECONDS.toMillis(deadlineSeconds + 5L));
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
