package io.connmgr.connection;

import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the manager knows of its servers beyond their connection state: the grpc.health.v1 {@code Watch} of the roles
 * that opted in, liveness probes of servers with calls in flight, outlier detection and ejection, and the slow start of
 * a server that became READY. It follows the READY servers (and those a probe declared down) only: its work per tick is
 * in the number of connected servers, never in the number of sessions.
 *
 * <p><b>Threading.</b> Everything runs on the manager's control executor: the health and probe calls deliver there,
 * the ticks and ejection timers hand off there. {@link #consecutiveFailures} and {@link #maybeStandby} are called on
 * the threads where calls end and only hand off. Listener calls go through {@link Notifier}, never under a lock.
 */
final class HealthMonitor {

  private static final Logger log = LoggerFactory.getLogger(HealthMonitor.class);
  /** Delay before a health {@code Watch} that ended while its server stayed READY is opened again. */
  private static final long WATCH_RETRY_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** What the monitor asks of the manager; control thread. */
  interface Host {
    /** {@code server}'s health or state changed: publish its role. */
    void changed(Server server);

    /** A liveness probe failed {@code count} calls of {@code server} (now DOWN). */
    void failedFast(Server server, int count);

    /** A call through {@code active(role)} to {@code server} ended with the standby signal. */
    void standby(Server server, Status status);

    /** The role of {@code server}'s servers, for the share rules. */
    Iterable<Server> roleServers(String role);
  }

  private final ConnectionOptions options;
  private final OutlierPolicy outlier;
  private final LivenessPolicy liveness;
  private final Executor control;
  private final ScheduledExecutorService timers;
  private final ChannelPool pool;
  private final Connector connector;
  private final Host host;
  private final ConnectionListener listener;
  private final boolean countsOutcomes;
  private final int consecutiveFailures;
  private final long slowStartNanos;

  final LongAdder ejections = new LongAdder();
  private final ConcurrentHashMap<String, LongAdder> roleEjections = new ConcurrentHashMap<>();

  // control thread
  private final Set<Server> monitored = new LinkedHashSet<>();
  private final List<Future<?>> ticks = new ArrayList<>(2);
  private boolean closed;

  HealthMonitor(ConnectionOptions options, Executor control, ScheduledExecutorService timers, ChannelPool pool,
      Connector connector, Host host) {
    this.options = options;
    this.outlier = options.outlier();
    this.liveness = options.liveness();
    this.control = control;
    this.timers = timers;
    this.pool = pool;
    this.connector = connector;
    this.host = host;
    this.listener = options.listener();
    this.countsOutcomes = outlier.enabled();
    this.consecutiveFailures = outlier.consecutiveFailures();
    this.slowStartNanos = options.slowStart().toNanos();
  }

  // ------------------------------------------------------------------ read by the call path (any thread)

  boolean countsOutcomes() {
    return countsOutcomes;
  }

  int consecutiveFailures() {
    return consecutiveFailures;
  }

  long now() {
    return options.ticker().getAsLong();
  }

  /** {@code server} reached the consecutive-failure threshold (any thread): eject it if the rules allow. */
  void consecutiveFailures(Server server) {
    control.execute(() -> {
      if (server.vitals().monitored && !server.vitals().ejected && server.state == ServerState.READY) {
        eject(server, consecutiveFailures + " consecutive failures");
      }
    });
  }

  /** A call through {@code active(role)} ended with {@code status} (any thread). */
  void maybeStandby(Server server, Status status) {
    if (options.standby().matches(status)) {
      control.execute(() -> host.standby(server, status));
    }
  }

  /** Ejections of {@code role} since the manager started. */
  long ejections(String role) {
    LongAdder a = roleEjections.get(role);
    return a == null ? 0 : a.sum();
  }

  // ------------------------------------------------------------------ lifecycle (control thread)

  /** Starts the probe and outlier ticks. */
  void start() {
    if (liveness.probing()) {
      every(liveness.probeInterval().toNanos(), this::probeTick);
    }
    if (countsOutcomes && outlier.minRequests() < Integer.MAX_VALUE) {
      every(outlier.interval().toNanos(), this::outlierTick);
    }
  }

  /**
   * Runs {@code tick} on the control thread every {@code nanos}, each run scheduling the next with a one-shot timer
   * (any {@link ScheduledExecutorService} will do, a test's fake clock included).
   */
  private void every(long nanos, Runnable tick) {
    int slot = ticks.size();
    ticks.add(null);
    Runnable[] run = new Runnable[1];
    run[0] = () -> control.execute(() -> {
      if (closed) {
        return;
      }
      tick.run();
      ticks.set(slot, timers.schedule(run[0], nanos, TimeUnit.NANOSECONDS));
    });
    ticks.set(slot, timers.schedule(run[0], nanos, TimeUnit.NANOSECONDS));
  }

  /** Stops ticks, watches and timers. */
  void close() {
    closed = true;
    for (Future<?> t : ticks) {
      if (t != null) {
        t.cancel(false);
      }
    }
    ticks.clear();
    for (Server e : monitored) {
      stopFollowing(e);
      Future<?> t = e.vitals().ejectionTimer;
      if (t != null) {
        t.cancel(false);
      }
    }
    monitored.clear();
  }

  /** {@code server}'s state may have changed: follow it while READY (or down for a probe), let it go otherwise. */
  void sync(Server e) {
    if (closed) {
      return;
    }
    boolean ready = e.state == ServerState.READY;
    Server.Vitals v = e.vitals;
    boolean followed = v != null && v.monitored;
    if (ready && !followed) {
      v = e.vitals();
      v.monitored = true;
      monitored.add(e);
      becameReady(e);
    } else if (followed && (e.state == ServerState.REMOVED || (!ready && !v.unresponsive))) {
      v.monitored = false;
      monitored.remove(e);
      stopFollowing(e);
    }
    if (e.state == ServerState.REMOVED && v != null) {
      v.unresponsive = false;
      Future<?> t = v.ejectionTimer;
      if (t != null) {
        t.cancel(false);
        v.ejectionTimer = null;
      }
    }
  }

  private void becameReady(Server e) {
    if (slowStartNanos > 0) {
      long now = now();
      e.vitals().warmStart = now;
      long until = now + slowStartNanos;
      e.vitals().warmUntil = until == 0 ? 1 : until;
    }
    String service = options.healthChecks().get(e.key.role());
    if (service != null) {
      e.vitals().notServing = true; // until its first answer: used only when no healthy server is left
      startWatch(e, service);
    }
  }

  private void stopFollowing(Server e) {
    Watch w = e.vitals().healthWatch;
    if (w != null) {
      e.vitals().healthWatch = null;
      w.cancel();
    }
    e.vitals().notServing = false;
    e.vitals().warmUntil = 0;
  }

  // ------------------------------------------------------------------ health Watch

  private void startWatch(Server e, String service) {
    ManagedChannel ch = pool.ifPresent(e.key);
    if (ch == null || closed) {
      return;
    }
    Watch w = new Watch(e, service);
    e.vitals().healthWatch = w;
    w.start(ch);
  }

  /** One grpc.health.v1 {@code Watch} stream of one server; callbacks on the control executor. */
  final class Watch extends ClientCall.Listener<Integer> {
    private final Server server;
    private final String service;
    private ClientCall<String, Integer> call;

    Watch(Server server, String service) {
      this.server = server;
      this.service = service;
    }

    void start(ManagedChannel ch) {
      call = ch.newCall(HealthCodec.WATCH, CallOptions.DEFAULT.withExecutor(control));
      call.start(this, new Metadata());
      call.sendMessage(service);
      call.halfClose();
      call.request(1);
    }

    void cancel() {
      call.cancel("connmgr stopped watching the health of " + server.key, null);
    }

    @Override
    public void onMessage(Integer status) {
      if (server.vitals().healthWatch != this) {
        return;
      }
      boolean notServing = status != HealthCodec.SERVING;
      setNotServing(server, notServing, "health service of '" + service + "' says "
          + (notServing ? servingStatus(status) : "SERVING"));
      call.request(1);
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      if (server.vitals().healthWatch != this) {
        return;
      }
      server.vitals().healthWatch = null;
      if (status.getCode() == Status.Code.UNIMPLEMENTED) {
        if (!server.vitals().noHealthServiceLogged) {
          server.vitals().noHealthServiceLogged = true;
          log.info("server {} has no grpc.health.v1 service (UNIMPLEMENTED); counted as healthy", server.key);
        }
        setNotServing(server, false, "no health service");
        return;
      }
      if (!closed && server.vitals().monitored && server.state == ServerState.READY) {
        log.debug("health watch of {} ended ({}); opening it again in 1 s", server.key, status);
        timers.schedule(() -> control.execute(() -> {
          if (!closed && server.vitals().healthWatch == null && server.vitals().monitored && server.state == ServerState.READY) {
            startWatch(server, service);
          }
        }), WATCH_RETRY_NANOS, TimeUnit.NANOSECONDS);
      }
    }
  }

  private static String servingStatus(int status) {
    return switch (status) {
      case HealthCodec.UNKNOWN -> "UNKNOWN";
      case HealthCodec.NOT_SERVING -> "NOT_SERVING";
      case HealthCodec.SERVICE_UNKNOWN -> "SERVICE_UNKNOWN";
      default -> "status " + status;
    };
  }

  private void setNotServing(Server e, boolean value, String reason) {
    if (e.vitals().notServing == value) {
      return;
    }
    ServerHealth before = e.health();
    e.vitals().notServing = value;
    reportHealth(e, before, reason);
  }

  private void reportHealth(Server e, ServerHealth before, String reason) {
    ServerHealth after = e.health();
    if (before != after) {
      log.info("server {} is {}: {}", e.key, after, reason);
      Notifier.run(() -> listener.healthChanged(e.key, before, after, reason));
    }
    host.changed(e);
  }

  // ------------------------------------------------------------------ liveness probes

  private void probeTick() {
    if (closed) {
      return;
    }
    for (Server e : monitored) {
      if (!e.vitals().probing && (e.vitals().unresponsive || e.size() > 0)) {
        probe(e);
      }
    }
  }

  private void probe(Server e) {
    ManagedChannel ch = pool.ifPresent(e.key);
    if (ch == null) {
      return;
    }
    e.vitals().probing = true;
    long timeoutNanos = liveness.probeTimeout().toNanos();
    ClientCall<String, Integer> call = ch.newCall(HealthCodec.CHECK,
        CallOptions.DEFAULT.withExecutor(control).withDeadlineAfter(timeoutNanos, TimeUnit.NANOSECONDS));
    call.start(new ClientCall.Listener<>() {
      @Override
      public void onClose(Status status, Metadata trailers) {
        e.vitals().probing = false;
        if (closed || e.state == ServerState.REMOVED || !e.vitals().monitored) {
          return;
        }
        if (status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
          if (!e.vitals().unresponsive && e.state == ServerState.READY) {
            unresponsive(e);
          }
        } else if (status.getCode() != Status.Code.UNAVAILABLE && e.vitals().unresponsive) {
          // any answer, even UNIMPLEMENTED, proves the process is alive again
          e.vitals().unresponsive = false;
          log.info("server {} answers again", e.key);
          connector.revive(e);
        }
      }
    }, new Metadata());
    call.sendMessage("");
    call.halfClose();
    call.request(1);
  }

  private void unresponsive(Server e) {
    long ms = liveness.probeTimeout().toMillis();
    Status st = Status.UNAVAILABLE.withDescription(e.key + " did not answer a liveness probe within " + ms
        + " ms (frozen, paused or unreachable)");
    e.vitals().unresponsive = true;
    e.state = ServerState.DOWN;
    e.wasDown = true;
    e.refuse(st);
    int failed = e.failAll(st);
    log.warn("server {} is down: no answer to a liveness probe within {} ms; {} call(s) in flight failed", e.key, ms,
        failed);
    Notifier.run(() -> listener.down(e.key));
    host.failedFast(e, failed);
    host.changed(e);
  }

  // ------------------------------------------------------------------ outlier detection

  private void outlierTick() {
    if (closed) {
      return;
    }
    long now = now();
    Map<String, long[]> roles = new HashMap<>(); // role -> {calls, failures}
    List<Server> candidates = new ArrayList<>();
    List<long[]> deltas = new ArrayList<>();
    for (Server e : monitored) {
      if (e.vitals().ejected || e.vitals().ejections == 0) {
        // no decay while ejected
      } else if (now - e.vitals().unejectedAt >= outlier.baseEjection().toNanos() * e.vitals().ejections) {
        e.vitals().ejections--;
        e.vitals().unejectedAt = now;
      }
      Server.Outcomes o = e.outcomes();
      if (o == null || e.state != ServerState.READY) {
        continue;
      }
      long ok = o.ok.sum();
      long failed = o.failed.sum();
      long dOk = ok - o.lastOk;
      long dFailed = failed - o.lastFailed;
      o.lastOk = ok;
      o.lastFailed = failed;
      if (dOk + dFailed == 0) {
        continue;
      }
      long[] t = roles.computeIfAbsent(e.key.role(), r -> new long[2]);
      t[0] += dOk + dFailed;
      t[1] += dFailed;
      if (!e.vitals().ejected && dOk + dFailed >= outlier.minRequests() && dFailed > 0) {
        candidates.add(e);
        deltas.add(new long[] {dOk + dFailed, dFailed});
      }
    }
    for (int i = 0; i < candidates.size(); i++) {
      Server e = candidates.get(i);
      long calls = deltas.get(i)[0];
      long failed = deltas.get(i)[1];
      long[] t = roles.get(e.key.role());
      double rate = (double) failed / calls;
      long otherCalls = t[0] - calls;
      double others = otherCalls == 0 ? 0 : (double) (t[1] - failed) / otherCalls;
      if (rate - others >= outlier.failureRateMargin()) {
        eject(e, String.format("failure rate %.0f%% over the last %d ms vs %.0f%% for the rest of its role",
            rate * 100, outlier.interval().toMillis(), others * 100));
      }
    }
  }

  private void eject(Server e, String reason) {
    int ready = 0;
    int healthy = 0;
    int ejected = 0;
    for (Server s : host.roleServers(e.key.role())) {
      if (s.state == ServerState.READY) {
        ready++;
        if (s.isEjected()) {
          ejected++;
        }
        if (s.preferred()) {
          healthy++;
        }
      }
    }
    if (healthy - (e.preferred() ? 1 : 0) < 1) {
      log.debug("not ejecting {} ({}): it is the last healthy server of its role", e.key, reason);
      return;
    }
    if (ejected + 1 > Math.floor(outlier.maxEjectedShare() * ready)) {
      log.debug("not ejecting {} ({}): {} of {} READY server(s) already ejected", e.key, reason, ejected, ready);
      return;
    }
    ServerHealth before = e.health();
    e.vitals().ejected = true;
    e.vitals().ejections++;
    long nanos = Math.min(outlier.baseEjection().toNanos() * e.vitals().ejections, outlier.maxEjection().toNanos());
    Duration length = Duration.ofNanos(nanos);
    e.vitals().ejectionTimer = timers.schedule(() -> control.execute(() -> uneject(e)), nanos, TimeUnit.NANOSECONDS);
    ejections.increment();
    roleEjections.computeIfAbsent(e.key.role(), r -> new LongAdder()).increment();
    log.warn("server {} ejected for {} ms: {}", e.key, length.toMillis(), reason);
    Notifier.run(() -> listener.ejected(e.key, length, reason));
    reportHealth(e, before, "ejected: " + reason);
  }

  private void uneject(Server e) {
    e.vitals().ejectionTimer = null;
    if (!e.vitals().ejected || closed) {
      return;
    }
    ServerHealth before = e.health();
    e.vitals().ejected = false;
    e.vitals().unejectedAt = now();
    e.resetConsecutive();
    Server.Outcomes o = e.outcomes();
    if (o != null) {
      o.lastOk = o.ok.sum();
      o.lastFailed = o.failed.sum();
    }
    if (e.state != ServerState.REMOVED) {
      reportHealth(e, before, "ejection ended");
    }
  }
}
