package io.connmgr.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code connmgr demo}: the whole story in under a minute. Demo servers register sessions; a client on
 * {@link ConnectionManager} keeps calls flowing; one server is deregistered while calls to it are in flight and they
 * fail at once, beside the same call on a plain grpc-java channel that waits for its deadline; the server comes back
 * and the client restores by itself. Exit 0 only if every step behaved.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
    description = "Show fail-fast on deregistration and automatic restore, beside plain grpc-java. "
        + "Runs on an embedded in-memory registry unless --etcd or --spawn-etcd is given.")
final class DemoCommand implements Callable<Integer> {

  private static final String ROLE = "querynode";

  @Option(names = "--etcd", paramLabel = "URL", description = "use this etcd instead of the embedded registry")
  String etcdUrl;

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
  private static final int STEPS = 6;

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
        EtcdDiscovery e = EtcdDiscovery.builder().endpoints(url).root("connmgr-demo/" + System.nanoTime() + "/")
            .build();
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
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE).build());
      resources.add(cm);
      cm.start();
      detail(String.format(Locale.ROOT, "create() + start() returned in %.2f ms, before any connection",
          ms(System.nanoTime() - t0)));
      boolean allReady = waitFor(Duration.ofSeconds(15), () -> ready(cm) == serverCount);
      detail(String.format(Locale.ROOT, "all %d servers ready after %.1f ms", serverCount, ms(System.nanoTime() - t0)));
      Traffic traffic = new Traffic(cm);
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
          return echo(cm.channel(ROLE, victim.serverId())).getServerId() == victim.serverId();
        } catch (RuntimeException e) {
          return false;
        }
      });
      double restoreMs = ms(System.nanoTime() - restoreStart);
      detail(String.format(Locale.ROOT, "first successful call to %s-%d %.1f ms after it registered again", ROLE,
          victim.serverId(), restoreMs));
      table(cm, traffic);

      // 6. summary
      progress("summary");
      boolean ok = allReady && failFastOk && baselineOk && trafficOk && restored;
      Table t = new Table("STEP", "RESULT", "");
      t.row("start-up", allReady ? "ok" : "FAILED", serverCount + " servers ready without blocking start()");
      t.row("fail-fast", failFastOk ? "ok" : "FAILED", String.format(Locale.ROOT, "%.1f ms (connmgr)", failFastMs));
      t.row("baseline", baselineOk ? "ok" : "FAILED", String.format(Locale.ROOT, "%.1f ms (plain grpc-java, %s)",
          baselineMs, b.status.getCode()));
      t.row("traffic", trafficOk ? "ok" : "FAILED", traffic.ok.get() + " calls ok, " + traffic.failed.get()
          + " failed (calls that were on the deregistered server)");
      t.row("restore", restored ? "ok" : "FAILED", String.format(Locale.ROOT, "%.1f ms", restoreMs));
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
        n.put("callsOk", traffic.ok.get());
        n.put("callsFailed", traffic.failed.get());
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
          Long.toString(traffic.perServer.getOrDefault(c.key().serverId(), new AtomicLong()).get()));
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
      java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
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

  private static EchoResponse echo(Channel ch) {
    return EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(2, TimeUnit.SECONDS)
        .echo(EchoRequest.newBuilder().setMessage("demo").build());
  }

  private static double ms(long nanos) {
    return nanos / 1e6;
  }

  private static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }

  /** Echo calls through {@code pick()} on a daemon thread, about 200 a second, counted per server. */
  private static final class Traffic implements AutoCloseable {
    final AtomicLong ok = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final Map<Long, AtomicLong> perServer = new ConcurrentHashMap<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final ConnectionManager cm;
    private Thread thread;

    Traffic(ConnectionManager cm) {
      this.cm = cm;
    }

    void start() {
      thread = new Thread(() -> {
        while (running.get()) {
          try {
            EchoResponse r = echo(cm.pick(ROLE));
            ok.incrementAndGet();
            perServer.computeIfAbsent(r.getServerId(), k -> new AtomicLong()).incrementAndGet();
          } catch (RuntimeException e) {
            failed.incrementAndGet();
          }
          java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
        }
      }, "connmgr-demo-traffic");
      thread.setDaemon(true);
      thread.start();
    }

    @Override
    public void close() throws InterruptedException {
      running.set(false);
      thread.join(5000);
    }
  }
}
