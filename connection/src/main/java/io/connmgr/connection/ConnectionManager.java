package io.connmgr.connection;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Scheduler;
import io.connmgr.connection.internal.FailingChannel;
import io.connmgr.connection.internal.RoleView;
import io.connmgr.connection.internal.ServerEntry;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import io.connmgr.discovery.internal.SerialExecutor;
import io.connmgr.discovery.internal.Threads;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.grpc.Channel;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Connections to the servers a client depends on, driven by their sessions: one grpc-java channel per live server in a
 * bounded Caffeine pool, bounded connect retry off the caller's thread, calls in flight failed at once when a server's
 * session goes, and automatic restore when it comes back (Milvus' "ConnectionManager" design).
 *
 * <pre>{@code
 * ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery)
 *     .dependsOn("rootcoord").roles("querynode").build());
 * cm.start();                                    // returns at once
 * EchoServiceGrpc.newBlockingStub(cm.pick("querynode")).echo(...);
 * }</pre>
 *
 * <p><b>Lifecycle</b> (document 000): {@link #create} builds, {@link #start()} initialises and returns at once — its
 * future completes when the initial snapshot is applied — and the manager then runs until {@link #close()}.
 * {@link #state()} is INITIALIZING, HEALTHY, ABNORMAL or STOPPING; {@link ConnectionListener#stateChanged} reports
 * changes.
 *
 * <p><b>Threading.</b> Thread-safe. The lookups ({@link #channel}, {@link #pick}, {@link #active}) never block and
 * allocate nothing: they read an immutable per-role view published by the control thread. Session events, connection
 * state changes, retries and listener calls all run on one control thread ({@code connmgr-control}); retries are
 * timed on the scheduler. Nothing runs on gRPC's event loops or discovery's threads but a hand-off. No method blocks.
 */
public final class ConnectionManager implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ConnectionManager.class);

  private final ConnectionOptions options;
  private final KeyLayout layout;
  private final ExecutorService controlThread;
  private final SerialExecutor control;
  private final ScheduledExecutorService timers;
  private final boolean ownsTimers;
  private final Cache<ServerKey, ManagedChannel> pool;
  private final RetryConfig retryConfig;
  private final boolean powerOfTwo;
  private final CompletableFuture<Void> ready = new CompletableFuture<>();

  private final LongAdder connectAttempts = new LongAdder();
  private final LongAdder connectFailures = new LongAdder();
  private final LongAdder retries = new LongAdder();
  private final LongAdder failFast = new LongAdder();

  // published to the call path
  private volatile Map<String, RoleView> views = Map.of();
  /** Every role ever published, each in a holder that lives as long as the manager; copy-on-write, grows only. */
  private volatile Map<String, RoleSlot> slots = Map.of();
  /**
   * The slot the last lookup found: a racy single-entry cache, so that a caller asking for the same role again skips
   * the map (an identity compare when it passes the same {@code String}). Safe without synchronisation: a slot's
   * {@code role} is final and its {@code view} volatile.
   */
  private RoleSlot lastSlot;
  private volatile ManagerState state = ManagerState.INITIALIZING;

  // control-thread only
  private final Map<ServerKey, ServerEntry> entries = new HashMap<>();
  private final Map<String, ServerEntry> bySessionKey = new HashMap<>();
  private final Map<String, ServerKey> activeByRole = new HashMap<>();
  private final Map<String, AtomicInteger> roundRobin = new HashMap<>();
  /**
   * Servers removed lately ({@code role-id}), so that one coming back is reported as restored: the most recent
   * {@value #REMEMBERED_REMOVALS} only, so that churn cannot grow it without bound.
   */
  private final Set<String> removedNames = java.util.Collections.newSetFromMap(
      new java.util.LinkedHashMap<String, Boolean>() {
        private static final long serialVersionUID = 1L;

        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > REMEMBERED_REMOVALS;
        }
      });
  private static final int REMEMBERED_REMOVALS = 4096;
  private final Map<String, List<Consumer<List<ServerClient>>>> clientWatchers = new HashMap<>();
  private final List<Consumer<List<ServerClient>>> watcherTombstones = new CopyOnWriteArrayList<>();
  private boolean synced;
  private boolean discoveryConnected = true;
  private Subscription subscription;
  private boolean started;
  private volatile boolean closed;

  private ConnectionManager(ConnectionOptions options) {
    this.options = options;
    this.layout = options.discovery().layout();
    this.powerOfTwo = options.picker() == Picker.POWER_OF_TWO_CHOICES;
    AtomicInteger n = new AtomicInteger();
    this.controlThread = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "connmgr-control-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.control = new SerialExecutor(controlThread);
    if (options.scheduler() != null) {
      this.timers = options.scheduler();
      this.ownsTimers = false;
    } else {
      this.timers = Threads.daemonScheduler("connmgr-timer");
      this.ownsTimers = true;
    }
    this.pool = Caffeine.newBuilder()
        .maximumSize(options.maxChannels())
        .expireAfterAccess(options.idleTimeout())
        .ticker(options.ticker()::getAsLong)
        .executor(control)
        .scheduler(Scheduler.forScheduledExecutorService(timers))
        .removalListener(this::onPoolRemoval)
        .build();
    RetryPolicy p = options.retry();
    this.retryConfig = RetryConfig.custom()
        .maxAttempts(p.maxAttempts())
        .intervalFunction(IntervalFunction.ofExponentialRandomBackoff(p.initialBackoff(), p.multiplier(), p.jitter(),
            p.maxBackoff()))
        .retryOnException(t -> true)
        .build();
  }

  /** Builds a manager; nothing starts until {@link #start()}. */
  public static ConnectionManager create(ConnectionOptions options) {
    return new ConnectionManager(options);
  }

  /**
   * Subscribes to the sessions and returns at once. The future completes when the initial snapshot is applied
   * (dependencies are then connecting in parallel; they need not be ready). Idempotent.
   */
  public CompletableFuture<Void> start() {
    control.execute(() -> {
      if (started || closed) {
        return;
      }
      started = true;
      subscription = options.discovery().subscribe(null, new Events(), control);
    });
    return ready;
  }

  /** The lifecycle state. */
  public ManagerState state() {
    return state;
  }

  /** The options this manager was built from. */
  public ConnectionOptions options() {
    return options;
  }

  // ------------------------------------------------------------------ hot path

  /**
   * The channel of one server. Its calls carry the {@code ServerID} header. If the server is unknown, stopping,
   * offline or removed, calls on the returned channel fail at once with {@code UNAVAILABLE} naming it.
   */
  public Channel channel(String role, long serverId) {
    RoleSlot s = slotOf(role);
    ServerEntry e = s == null ? null : RoleView.find(s.table, serverId);
    if (e == null) {
      return unavailable(role + "-" + serverId + " is not a known server");
    }
    return e.channel;
  }

  /**
   * A channel to one server of {@code role}, chosen by the configured {@link Picker} among READY servers (or, if none
   * is connected yet, among those not known to be down). Stopping, down and offline servers are never picked. With
   * none available, calls fail at once with {@code UNAVAILABLE}.
   */
  public Channel pick(String role) {
    RoleView v = viewOf(role);
    ServerEntry e = v == null ? null : v.pick(powerOfTwo);
    if (e == null) {
      return unavailable("no available server of role " + role);
    }
    return e.channel;
  }

  /**
   * The channel of the active server of an exclusive role (the one its {@code <root><role>} key names), following it
   * when it changes; calls fail at once with {@code UNAVAILABLE} while none is known.
   */
  public Channel active(String role) {
    RoleView v = viewOf(role);
    ServerEntry e = v == null ? null : v.active;
    if (e == null) {
      return unavailable("no active server of role " + role + " is known");
    }
    return e.channel;
  }

  /** The published view of {@code role}, or {@code null}. Any thread; no allocation. */
  private RoleView viewOf(String role) {
    RoleSlot s = slotOf(role);
    return s == null ? null : s.view;
  }

  /** The slot of {@code role}, or {@code null} if the role was never published. Any thread; no allocation. */
  private RoleSlot slotOf(String role) {
    RoleSlot s = lastSlot;
    if (s == null || (s.role != role && !s.role.equals(role))) {
      s = slots.get(role);
      if (s != null) {
        lastSlot = s;
      }
    }
    return s;
  }

  /** One role's current view, in a holder the call path may cache. */
  private static final class RoleSlot {
    private static final ServerEntry[] EMPTY = new RoleView(List.of(), null, new AtomicInteger()).idTable();

    final String role;
    volatile RoleView view;
    /** {@code view.idTable()} (an empty table while there is no view): one load less for {@link #channel}. */
    volatile ServerEntry[] table = EMPTY;

    RoleSlot(String role) {
      this.role = role;
    }

    void set(RoleView v) {
      view = v;
      table = v == null ? EMPTY : v.idTable();
    }
  }

  private static Channel unavailable(String description) {
    return new FailingChannel(Status.UNAVAILABLE.withDescription(description), "connmgr");
  }

  /** The state of one server, or {@code null} if unknown. */
  public ServerState serverState(String role, long serverId) {
    RoleView v = viewOf(role);
    ServerEntry e = v == null ? null : v.byId(serverId);
    return e == null ? null : e.state;
  }

  /** The servers of {@code role} now, by server id (document 001's clients list). */
  public List<ServerClient> clients(String role) {
    RoleView v = views.get(role);
    if (v == null) {
      return List.of();
    }
    List<ServerClient> out = new ArrayList<>();
    for (ServerEntry e : v.all()) {
      out.add(new ServerClient(e.key, e.session, e.state, e.channel));
    }
    return Collections.unmodifiableList(out);
  }

  /**
   * Calls {@code listener} with {@link #clients(String)} now and after every change of the role's servers or their
   * states (document 001's {@code WatchClients}), on the control thread. Close the handle to stop.
   */
  public AutoCloseable watchClients(String role, Consumer<List<ServerClient>> listener) {
    control.execute(() -> {
      clientWatchers.computeIfAbsent(role, r -> new CopyOnWriteArrayList<>()).add(listener);
      notifyListener(() -> listener.accept(clients(role)));
    });
    return () -> control.execute(() -> {
      List<Consumer<List<ServerClient>>> l = clientWatchers.get(role);
      if (l != null) {
        l.remove(listener);
      }
    });
  }

  /** Starts a connect episode for an OFFLINE (or any not READY) server now. */
  public void reconnect(String role, long serverId) {
    control.execute(() -> {
      RoleView v = views.get(role);
      ServerEntry e = v == null ? null : v.byId(serverId);
      if (e != null && e.state != ServerState.READY) {
        startEpisode(e);
      }
    });
  }

  /** Counters and per-role figures now. */
  public ConnectionStats stats() {
    Map<String, ConnectionStats.RoleStats> roles = new HashMap<>();
    views.forEach((role, v) -> {
      int ready = 0;
      int offline = 0;
      int stopping = 0;
      for (ServerEntry e : v.all()) {
        switch (e.state) {
          case READY -> ready++;
          case OFFLINE, DOWN -> offline++;
          case STOPPING -> stopping++;
          default -> { }
        }
      }
      roles.put(role, new ConnectionStats.RoleStats(v.all().length, ready, offline, stopping));
    });
    return new ConnectionStats(roles, pool.estimatedSize(), connectAttempts.sum(), connectFailures.sum(),
        retries.sum(), failFast.sum());
  }

  // ------------------------------------------------------------------ session events (control thread)

  private final class Events extends SessionListener {
    @Override
    public void onEvent(SessionEvent e) {
      apply(e);
    }

    @Override
    public void onSynced(long revision) {
      boolean first = !synced;
      synced = true;
      discoveryConnected = true;
      if (first) {
        publishAll();
        for (ServerEntry e : new ArrayList<>(entries.values())) {
          if (options.dependencies().contains(e.key.role()) && e.state == ServerState.IDLE) {
            startEpisode(e);
          }
        }
        ready.complete(null);
        log.info("connection manager synced at revision {}: {} server(s)", revision, entries.size());
      }
      updateState();
    }

    @Override
    public void onDisconnected(Throwable cause) {
      discoveryConnected = false;
      updateState();
    }

    @Override
    public void onReconnected() {
      discoveryConnected = true;
      updateState();
    }
  }

  private boolean tracked(String role) {
    return options.roles().isEmpty() || options.roles().contains(role);
  }

  private void apply(SessionEvent ev) {
    Session s = ev.session();
    if (closed || !tracked(s.role())) {
      return;
    }
    String key = ev.key();
    boolean activeKey = layout.isActiveKey(key, s);
    if (ev.type() == SessionEvent.Type.REMOVED) {
      ServerEntry e = bySessionKey.remove(key);
      if (e == null) {
        return;
      }
      e.sessionKeys.remove(key);
      if (activeKey) {
        activeByRole.remove(s.role());
      }
      if (e.sessionKeys.isEmpty()) {
        remove(e, ev.reason());
      }
      publish(s.role());
      return;
    }
    ServerKey sk = ServerKey.of(s);
    ServerEntry previous = bySessionKey.get(key);
    if (previous != null && !previous.key.equals(sk)) {
      // the same key now names another instance (new address or id): the old one is gone
      bySessionKey.remove(key);
      previous.sessionKeys.remove(key);
      if (previous.sessionKeys.isEmpty()) {
        remove(previous, "re-registered as " + sk);
      }
    }
    ServerEntry e = entries.get(sk);
    boolean created = e == null;
    if (created) {
      e = new ServerEntry(sk, s, this::channelFor);
      entries.put(sk, e);
    }
    e.sessionKeys.add(key);
    bySessionKey.put(key, e);
    if (!activeKey || e.sessionKeys.size() == 1) {
      e.session = s;
    }
    if (activeKey) {
      activeByRole.put(s.role(), sk);
    }
    if (s.stopping()) {
      if (e.state != ServerState.STOPPING) {
        e.state = ServerState.STOPPING;
        e.refusal = Status.UNAVAILABLE.withDescription(sk + " is stopping");
        notifyListener(() -> options.listener().stopping(sk));
      }
    } else if (e.state == ServerState.OFFLINE || e.state == ServerState.STOPPING) {
      // a session that changes (or comes back from Stopping) gets a new chance
      e.refusal = null;
      e.state = ServerState.IDLE;
      startEpisode(e);
    } else if (created && synced && options.dependencies().contains(sk.role())) {
      startEpisode(e);
    }
    if (created && removedNames.remove(sk.role() + "-" + sk.serverId())) {
      e.wasDown = true; // reported as restored once it is READY
    }
    if (synced) {
      publish(s.role());
    }
  }

  private void remove(ServerEntry e, String reason) {
    entries.remove(e.key);
    e.state = ServerState.REMOVED;
    Status status = Status.UNAVAILABLE.withDescription(e.key + " " + reason);
    e.refusal = status;
    int failed = e.calls.failAll(status);
    failFast.add(failed);
    ManagedChannel ch = pool.asMap().remove(e.key);
    if (ch != null) {
      ch.shutdownNow();
    }
    if (e.pendingAttempt != null) {
      e.pendingAttempt.completeExceptionally(new IllegalStateException(e.key + " removed"));
    }
    removedNames.add(e.key.role() + "-" + e.key.serverId());
    log.info("server {} removed ({}); {} call(s) in flight failed", e.key, reason, failed);
    notifyListener(() -> options.listener().removed(e.key, reason));
    if (failed > 0) {
      notifyListener(() -> options.listener().callsFailedFast(e.key, failed));
    }
  }

  // ------------------------------------------------------------------ the pool

  /** The pooled channel of {@code e}, opened on first use. Any thread; does not block. */
  private ManagedChannel channelFor(ServerEntry e) {
    ManagedChannel ch = pool.getIfPresent(e.key);
    if (ch != null) {
      return ch;
    }
    return pool.get(e.key, k -> open(e));
  }

  private ManagedChannel open(ServerEntry e) {
    NettyChannelBuilder b = NettyChannelBuilder.forAddress(e.key.host(), e.key.port()).usePlaintext();
    options.customizer().customize(e.session, b);
    ManagedChannel ch = b.build();
    control.execute(() -> watch(e, ch));
    return ch;
  }

  private void onPoolRemoval(ServerKey key, ManagedChannel ch, RemovalCause cause) {
    if (ch != null && cause.wasEvicted()) {
      log.debug("closing idle channel of {} ({})", key, cause);
      ch.shutdown(); // graceful: calls in flight finish
      control.execute(() -> {
        ServerEntry e = entries.get(key);
        if (e != null && e.watched == ch && (e.state == ServerState.READY || e.state == ServerState.CONNECTING)) {
          e.state = ServerState.IDLE;
          e.watched = null;
          publish(key.role());
        }
      });
    }
  }

  // ------------------------------------------------------------------ connectivity (control thread)

  private void watch(ServerEntry e, ManagedChannel ch) {
    if (e.state == ServerState.REMOVED) {
      return;
    }
    e.watched = ch;
    onConnectivity(e, ch);
  }

  private void onConnectivity(ServerEntry e, ManagedChannel ch) {
    if (e.watched != ch || e.state == ServerState.REMOVED) {
      return;
    }
    ConnectivityState s = ch.getState(false);
    switch (s) {
      case READY -> onReady(e);
      case TRANSIENT_FAILURE, IDLE -> {
        if (e.state == ServerState.READY) {
          // the connection dropped (process died, reset): down now, before the lease expires
          e.state = ServerState.DOWN;
          e.wasDown = true;
          log.info("server {} is down: connection lost", e.key);
          notifyListener(() -> options.listener().down(e.key));
          publish(e.key.role());
          startEpisode(e);
        } else if (s == ConnectivityState.TRANSIENT_FAILURE && e.pendingAttempt != null) {
          e.pendingAttempt.completeExceptionally(
              new IllegalStateException("connection to " + e.key.address() + " failed"));
        }
      }
      case SHUTDOWN -> {
        return;
      }
      default -> { }
    }
    ch.notifyWhenStateChanged(s, () -> control.execute(() -> onConnectivity(e, ch)));
  }

  private void onReady(ServerEntry e) {
    if (e.state != ServerState.STOPPING && e.state != ServerState.READY && e.state != ServerState.REMOVED) {
      boolean restored = e.wasDown;
      e.wasDown = false;
      e.state = ServerState.READY;
      e.refusal = null;
      long took = e.episodeActive ? options.ticker().getAsLong() - e.episodeStart : 0;
      notifyListener(() -> options.listener().connectSucceeded(e.key, Duration.ofNanos(took)));
      if (restored) {
        log.info("server {} restored", e.key);
        notifyListener(() -> options.listener().restored(e.key));
      }
      publish(e.key.role());
    }
    if (e.pendingAttempt != null) {
      e.pendingAttempt.complete(null);
    }
  }

  // ------------------------------------------------------------------ bounded connect retry (control thread)

  private void startEpisode(ServerEntry e) {
    if (closed || e.episodeActive || e.state == ServerState.REMOVED || e.state == ServerState.STOPPING
        || e.state == ServerState.READY) {
      return;
    }
    e.episodeActive = true;
    e.episodeStart = options.ticker().getAsLong();
    e.attempt = 0;
    if (e.state == ServerState.OFFLINE) {
      e.refusal = null;
    }
    if (e.state != ServerState.DOWN) {
      e.state = ServerState.CONNECTING;
    }
    Retry retry = Retry.of(e.key.toString(), retryConfig);
    retry.getEventPublisher().onRetry(ev -> retries.increment());
    Retry.decorateCompletionStage(retry, timers, () -> attempt(e)).get()
        .whenCompleteAsync((ok, err) -> {
          e.episodeActive = false;
          if (err != null && e.state != ServerState.REMOVED && e.state != ServerState.STOPPING
              && e.state != ServerState.READY) {
            e.state = ServerState.OFFLINE;
            e.wasDown = true;
            e.refusal = Status.UNAVAILABLE.withDescription(e.key + " is offline after "
                + options.retry().maxAttempts() + " connect attempt(s)");
            ManagedChannel ch = pool.getIfPresent(e.key);
            if (ch != null) {
              ch.enterIdle(); // stop grpc-java's own reconnect loop: offline means no spinning
            }
            log.warn("server {} is offline after {} connect attempt(s): {}", e.key, options.retry().maxAttempts(),
                String.valueOf(err.getMessage()));
            notifyListener(() -> options.listener().offline(e.key));
            publish(e.key.role());
          }
        }, control);
  }

  /** One connect attempt; completes when READY, fails on TRANSIENT_FAILURE or after the attempt timeout. */
  private CompletableFuture<Void> attempt(ServerEntry e) {
    CompletableFuture<Void> result = new CompletableFuture<>();
    control.execute(() -> {
      if (closed || e.state == ServerState.REMOVED || e.state == ServerState.STOPPING) {
        result.complete(null); // nothing more to do; the episode ends quietly
        return;
      }
      int n = ++e.attempt;
      connectAttempts.increment();
      notifyListener(() -> options.listener().connectStarted(e.key, n));
      e.pendingAttempt = result;
      ManagedChannel ch = channelFor(e);
      if (ch.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
        // grpc-java keeps a failed channel in TRANSIENT_FAILURE while it retries on its own; start this attempt
        // from a fresh channel so its outcome is seen and only our policy retries
        pool.asMap().remove(e.key, ch);
        ch.shutdownNow();
        ch = channelFor(e);
      }
      if (ch.getState(true) == ConnectivityState.READY) {
        if (e.watched != ch) {
          watch(e, ch); // sees READY and marks the entry
        } else {
          onReady(e); // already connected (for example after Stopping was withdrawn)
        }
        result.complete(null);
        return;
      }
      timers.schedule(() -> result.completeExceptionally(
          new TimeoutException("no connection to " + e.key.address() + " within "
              + options.retry().attemptTimeout().toMillis() + " ms")),
          options.retry().attemptTimeout().toNanos(), TimeUnit.NANOSECONDS);
    });
    return result.whenCompleteAsync((ok, err) -> {
      if (e.pendingAttempt == result) {
        e.pendingAttempt = null;
      }
      if (err != null) {
        connectFailures.increment();
        int n = e.attempt;
        notifyListener(() -> options.listener().connectFailed(e.key, n, err));
      }
    }, control);
  }

  // ------------------------------------------------------------------ publication (control thread)

  private void publish(String role) {
    if (!synced) {
      return;
    }
    Map<String, RoleView> next = new HashMap<>(views);
    List<ServerEntry> of = new ArrayList<>();
    for (ServerEntry e : entries.values()) {
      if (e.key.role().equals(role)) {
        of.add(e);
      }
    }
    if (of.isEmpty() && !activeByRole.containsKey(role)) {
      next.remove(role);
    } else {
      next.put(role, view(role, of));
    }
    setViews(next);
    updateState();
    List<Consumer<List<ServerClient>>> watchers = clientWatchers.get(role);
    if (watchers != null && !watchers.isEmpty()) {
      List<ServerClient> snapshot = clients(role);
      for (Consumer<List<ServerClient>> w : watchers) {
        notifyListener(() -> w.accept(snapshot));
      }
    }
  }

  private void publishAll() {
    Map<String, List<ServerEntry>> byRole = new HashMap<>();
    for (ServerEntry e : entries.values()) {
      byRole.computeIfAbsent(e.key.role(), r -> new ArrayList<>()).add(e);
    }
    Map<String, RoleView> next = new HashMap<>();
    byRole.forEach((role, list) -> next.put(role, view(role, list)));
    setViews(next);
  }

  /** Publishes {@code next} to the call path: the views map and every role's slot. Control thread. */
  private void setViews(Map<String, RoleView> next) {
    Map<String, RoleSlot> current = slots;
    if (!current.keySet().containsAll(next.keySet())) {
      Map<String, RoleSlot> grown = new HashMap<>(current);
      for (String role : next.keySet()) {
        grown.computeIfAbsent(role, RoleSlot::new);
      }
      current = Map.copyOf(grown);
      slots = current;
    }
    for (RoleSlot slot : current.values()) {
      slot.set(next.get(slot.role));
    }
    views = Map.copyOf(next);
  }

  private RoleView view(String role, List<ServerEntry> of) {
    ServerKey activeKey = activeByRole.get(role);
    ServerEntry active = activeKey == null ? null : entries.get(activeKey);
    return new RoleView(of, active, roundRobin.computeIfAbsent(role, r -> new AtomicInteger()));
  }

  private void updateState() {
    if (closed || !synced) {
      return;
    }
    boolean healthy = discoveryConnected;
    for (String dep : options.dependencies()) {
      RoleView v = views.get(dep);
      if (v == null || v.readyCount() == 0) {
        healthy = false;
        break;
      }
    }
    setState(healthy ? ManagerState.HEALTHY : ManagerState.ABNORMAL);
  }

  private void setState(ManagerState next) {
    ManagerState prev = state;
    if (prev != next) {
      state = next;
      log.info("connection manager {} -> {}", prev, next);
      notifyListener(() -> options.listener().stateChanged(prev, next));
    }
  }

  private void notifyListener(Runnable call) {
    try {
      call.run();
    } catch (Throwable t) {
      log.warn("connection listener threw; ignored", t);
    }
  }

  /**
   * Stops: no new calls (they fail with UNAVAILABLE), the subscription closes, every channel shuts down (calls in
   * flight are cancelled), and the manager's threads end. Idempotent; does not block.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    control.execute(() -> {
      setState(ManagerState.STOPPING);
      if (subscription != null) {
        subscription.close();
      }
      Status stopping = Status.UNAVAILABLE.withDescription("connection manager closed");
      for (ServerEntry e : entries.values()) {
        e.refusal = stopping;
        e.state = ServerState.REMOVED;
      }
      entries.clear();
      bySessionKey.clear();
      setViews(Map.of());
      pool.asMap().values().forEach(ManagedChannel::shutdownNow);
      pool.invalidateAll();
      ready.completeExceptionally(new IllegalStateException("connection manager closed"));
      if (ownsTimers) {
        timers.shutdownNow();
      }
      controlThread.shutdown();
    });
  }
}
