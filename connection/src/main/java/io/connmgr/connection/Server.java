package io.connmgr.connection;

import io.connmgr.discovery.Session;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;

/**
 * One live server instance, its call tracker, and the stable {@link io.grpc.Channel} handed to callers for it, in one
 * object: its calls are refused at once while the server cannot take them, else tracked on the pooled grpc-java
 * channel.
 *
 * <p><b>Threading.</b> State changes happen on the manager's control thread; the fields the call path reads
 * ({@link #state}, {@link #session}, the tracker's refusal) are volatile. Fields marked control-thread are touched
 * nowhere else.
 */
final class Server extends CallTracker {

  /** Opens (or finds) the pooled channel of a server; any thread, never blocks. */
  interface Pool {
    ManagedChannel channel(Server server);
  }

  final ServerKey key;
  /** {@code key.serverId()}, one load away for the lookup tables. */
  final long serverId;
  private final Context context;

  volatile Session session;
  volatile ServerState state = ServerState.IDLE;
  /** Set by the pool when it adds a channel for this server: a server never called costs no pool lookup on removal. */
  volatile boolean pooled;

  /**
   * What the {@link HealthMonitor} knows of this server, made when it first follows it (the server became READY): an
   * idle session carries no health state.
   */
  volatile Vitals vitals;
  /** Calls ended, created on the first outcome counted: a server never called costs no counters. */
  private volatile Outcomes outcomes;

  /** Counters of ended calls. */
  static final class Outcomes {
    final LongAdder ok = new LongAdder();
    final LongAdder failed = new LongAdder();
    /** Failures in a row (racy: a lost update only delays an ejection by one call). */
    volatile int consecutive;
    // control thread: the sums at the last evaluation
    long lastOk;
    long lastFailed;
  }

  /** The health state of a followed server: the volatile fields are read by the pickers, the rest is control's. */
  static final class Vitals {
    /** The health service says it is not serving, or has not answered yet. */
    volatile boolean notServing;
    /** Ejected by outlier detection. */
    volatile boolean ejected;
    /** End of the slow-start window (ticker nanos), 0 when not warming; cleared by the first pick after it. */
    volatile long warmUntil;
    long warmStart;
    /** Followed by the {@link HealthMonitor}: READY, or down because it stopped answering probes. */
    boolean monitored;
    /** Declared DOWN by a liveness probe while its connection stayed open; probing goes on. */
    boolean unresponsive;
    /** A liveness probe is in flight. */
    boolean probing;
    /** The health {@code Watch} of this server, or {@code null}. */
    HealthMonitor.Watch healthWatch;
    /** UNIMPLEMENTED from the health service was logged. */
    boolean noHealthServiceLogged;
    /** Times ejected lately (the multiplier of the next ejection), the end of the last ejection, its timer. */
    int ejections;
    long unejectedAt;
    Future<?> ejectionTimer;
  }

  // control-thread only
  /** How many session keys name this instance (its own key, and the active key of an exclusive role). */
  int refs;
  boolean wasDown;
  /** The connect episode under way, or {@code null}: an idle server carries none of its fields. */
  Episode episode;
  ManagedChannel watched;
  /** The role's {@link RoleIndex}: queued for re-evaluation, in its id table, its indexes in the pick lists. */
  boolean queued;
  boolean indexed;
  int readyIndex = -1;
  int pickableIndex = -1;
  int healthyIndex = -1;
  /** Calls through {@code active(role)} while this server is its role's active one; created on first use. */
  volatile ActiveTracker activeCalls;

  /**
   * What every server of one manager shares: the pool, the executor of refused calls, and its health monitor.
   * {@code null} for the servers of a {@code session} resolver, which are only call trackers and never handed out as
   * channels.
   */
  record Context(Pool pool, Executor callbacks, HealthMonitor health) {}

  /** One connect episode's state (control thread). */
  static final class Episode {
    final long start;
    int attempt;
    CompletableFuture<Void> pending;
    Future<?> timeout;
    /** The TLS failure last logged in this episode, so each is logged once. */
    String tlsFailure;

    Episode(long start) {
      this.start = start;
    }
  }

  Server(ServerKey key, Session session, Context context) {
    super(key);
    this.key = key;
    this.serverId = key.serverId();
    this.session = session;
    this.context = context;
  }

  /** {@link ServerHealth#DEGRADED} when the health service says not serving or outlier detection ejected it. */
  ServerHealth health() {
    Vitals v = vitals;
    return v != null && (v.notServing || v.ejected) ? ServerHealth.DEGRADED : ServerHealth.HEALTHY;
  }

  /** Ejected by outlier detection now. */
  boolean isEjected() {
    Vitals v = vitals;
    return v != null && v.ejected;
  }

  /** Preferred by the pickers: READY and healthy. */
  boolean preferred() {
    return state == ServerState.READY && health() == ServerHealth.HEALTHY;
  }

  /** The health state, made on first use. Control thread. */
  Vitals vitals() {
    Vitals v = vitals;
    if (v == null) {
      v = new Vitals();
      vitals = v;
    }
    return v;
  }

  /**
   * Counts a call's end for outlier detection: one {@code LongAdder} increment; the consecutive-failure rule hands the
   * server to the control thread once, as the threshold is reached. Any thread.
   */
  @Override
  void outcome(Status status) {
    Context c = context;
    if (c == null || c.health() == null || !c.health().countsOutcomes()) {
      return;
    }
    Outcomes o = outcomes;
    if (o == null) {
      synchronized (this) {
        o = outcomes;
        if (o == null) {
          o = new Outcomes();
          outcomes = o;
        }
      }
    }
    switch (status.getCode()) {
      case UNAVAILABLE, INTERNAL, UNKNOWN, DATA_LOSS, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED -> {
        o.failed.increment();
        int n = o.consecutive + 1;
        o.consecutive = n;
        if (n == c.health().consecutiveFailures()) {
          c.health().consecutiveFailures(this);
        }
      }
      case CANCELLED -> { }
      default -> {
        o.ok.increment();
        if (o.consecutive != 0) {
          o.consecutive = 0;
        }
      }
    }
  }

  /** The counters, or {@code null} if no call ended yet. */
  Outcomes outcomes() {
    return outcomes;
  }

  void resetConsecutive() {
    Outcomes o = outcomes;
    if (o != null) {
      o.consecutive = 0;
    }
  }

  /**
   * Slow start: while this server warms up, a pick that chose it keeps it with a probability that grows linearly from
   * 10% to 100% over the window, else takes another of {@code from}; at most three draws. Called by the pickers only
   * when its {@link Vitals#warmUntil} is set.
   */
  Server warm(Server[] from) {
    Context c = context;
    long now = c.health().now();
    Vitals mine = vitals;
    if (mine == null || mine.warmUntil == 0 || now - mine.warmUntil >= 0) {
      if (mine != null) {
        mine.warmUntil = 0;
      }
      return this;
    }
    ThreadLocalRandom rnd = ThreadLocalRandom.current();
    Server s = this;
    for (int i = 0; i < 3; i++) {
      Vitals v = s.vitals;
      long end = v == null ? 0 : v.warmUntil;
      if (end == 0 || now - end >= 0) {
        return s;
      }
      double share = (double) (now - v.warmStart) / (end - v.warmStart);
      if (rnd.nextDouble() < Math.max(0.1, share)) {
        return s;
      }
      s = from[rnd.nextInt(from.length)];
    }
    return s;
  }

  /** The tracker of calls through {@code active(role)} to this server, made on first use. Any thread. */
  ActiveTracker activeCalls() {
    ActiveTracker t = activeCalls;
    if (t == null) {
      synchronized (this) {
        t = activeCalls;
        if (t == null) {
          t = new ActiveTracker(this);
          activeCalls = t;
        }
      }
    }
    return t;
  }

  /**
   * The calls a caller made through {@code active(role)} while this server was the active one: failed at once when it
   * stops being active, and watched for the standby signal.
   */
  static final class ActiveTracker extends CallTracker {
    final Server server;

    ActiveTracker(Server server) {
      super(server.key);
      this.server = server;
    }

    @Override
    void outcome(Status status) {
      if (!status.isOk()) {
        server.context.health().maybeStandby(server, status);
      }
    }

    <Q, R> ClientCall<Q, R> call(MethodDescriptor<Q, R> method, CallOptions options) {
      Status refuse = refusal;
      if (refuse != null) {
        return FailingCall.of(refuse, options, server.context.callbacks());
      }
      return track(server.newCall(method, options));
    }
  }

  /** New calls fail with {@code status} from now on ({@code null}: they may proceed). */
  void refuse(Status status) {
    refusal = status;
  }

  Status refusal() {
    return refusal;
  }

  @Override
  public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
    Status refuse = refusal;
    if (refuse != null) {
      return FailingCall.of(refuse, options, context.callbacks());
    }
    ManagedChannel ch;
    try {
      ch = context.pool().channel(this);
    } catch (RuntimeException e) {
      return FailingCall.of(Status.UNAVAILABLE.withDescription("cannot open a channel to " + key).withCause(e),
          options, context.callbacks());
    }
    return track(ch.newCall(method, options));
  }

  /** The pooled grpc-java channel of this server, opened if need be; any thread, never blocks. */
  ManagedChannel channel() {
    return context.pool().channel(this);
  }

  @Override
  public String authority() {
    return key.address();
  }

  @Override
  public String toString() {
    return key + " " + state;
  }
}
