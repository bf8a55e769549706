package io.connmgr.connection;

import io.connmgr.discovery.Leader;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import io.connmgr.discovery.internal.SerialExecutor;
import io.connmgr.discovery.internal.Threads;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
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
 * timed on the scheduler, as are the checks of {@link ServerTls} files for change (read there, never on a caller's
 * thread or an event loop). Nothing runs on gRPC's event loops or discovery's threads but a hand-off. No method blocks
 * but {@link #awaitTermination}. Calls refused at once (unknown, removed, stopping, offline server) complete on their
 * call executor, or on the manager's {@code connmgr-callback} threads, never inside {@code start()}.
 *
 * <p><b>Engine.</b> The public face over package-private parts with one job each: the {@link ServerTable} (pure state
 * transitions on session events, O(log n) per event in the size of its role), the {@link Connector} (connect episodes
 * and connectivity), the {@link ChannelPool} (Caffeine, channels built by a {@link ChannelFactory} outside any lock),
 * the {@link Publisher} (one publication per drained batch of events) and the {@link CallTracker}. A removal fails its
 * server's calls as the event is applied, before any publication work of its batch.
 */
public final class ConnectionManager implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ConnectionManager.class);

  /**
   * Events applied before publication is forced even if more are queued: bounds how stale the call path's views can
   * get under a continuous stream of events, at an amortised cost of one role view per this many events.
   */
  private static final int MAX_BATCH = 4096;
  /**
   * A batch publishes at once when it holds at least 1/{@value} as many events as the last publication visited
   * servers; a smaller one waits {@value #FLUSH_DELAY_MICROS} µs for more, so that a trickle of events into a role of
   * 100,000 servers does not rebuild its view for each one.
   */
  private static final int FLUSH_RATIO = 16;
  private static final long FLUSH_DELAY_MICROS = 1000;
  /** Servers removed lately, remembered so that one coming back is reported as restored. */
  private static final int REMEMBERED_REMOVALS = 4096;

  private final ConnectionOptions options;
  private final ScheduledThreadPoolExecutor controlThread;
  private final SerialExecutor control;
  private final ScheduledExecutorService timers;
  private final boolean ownsTimers;
  private final ThreadPoolExecutor callbacks;
  private final boolean powerOfTwo;
  private final CompletableFuture<Void> ready = new CompletableFuture<>();
  private final LongAdder failFast = new LongAdder();
  private final LongAdder reissued = new LongAdder();
  private final LongAdder budgetExhausted = new LongAdder();
  /** Sessions ignored for their address, per role (counted once per key and address). */
  private final ConcurrentHashMap<String, LongAdder> disallowed = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, RoleChannel> roleChannels = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, ActiveChannel> activeChannels = new ConcurrentHashMap<>();
  private final RoleChannel.Host roleHost = new RoleHost();

  private final ServerTable table;
  private final Publisher publisher;
  private final ChannelPool pool;
  /** The default channel factory, or {@code null} when the options bring their own. */
  private final NettyChannelFactory netty;
  private final Connector connector;
  private final HealthMonitor health;
  private final Sink sink = new Sink();

  private volatile ManagerState state = ManagerState.INITIALIZING;
  /**
   * The role the last lookup found: a racy single-entry cache, so that a caller asking for the same role again skips
   * the map (an identity compare when it passes the same {@code String}). Safe without synchronisation: a role's
   * {@code name} is final and its view and table volatile.
   */
  private ServerTable.Role lastRole;

  // control-thread only
  private final Set<RoleAndId> removedNames = Collections.newSetFromMap(new LinkedHashMap<RoleAndId, Boolean>() {
    private static final long serialVersionUID = 1L;

    @Override
    protected boolean removeEldestEntry(Map.Entry<RoleAndId, Boolean> eldest) {
      return size() > REMEMBERED_REMOVALS;
    }
  });

  /** A server's name across instances: a server that registers again under its id is the same server, restored. */
  private record RoleAndId(String role, long id) {}

  /** Roles whose servers connect as soon as they are known: the dependencies and the roles of role channels. */
  private final Set<String> eagerRoles = new HashSet<>();
  private boolean synced;
  private boolean discoveryConnected = true;
  private boolean flushScheduled;
  private boolean flushTimerSet;
  private int sinceFlush;
  private long lastFlushWork;
  private Subscription subscription;
  private boolean started;
  private volatile boolean closed;

  private ConnectionManager(ConnectionOptions options) {
    this.options = options;
    this.powerOfTwo = options.picker() == Picker.POWER_OF_TWO_CHOICES;
    this.controlThread = Threads.daemonScheduler("connmgr-control");
    this.control = new SerialExecutor(controlThread);
    if (options.scheduler() != null) {
      this.timers = options.scheduler();
      this.ownsTimers = false;
    } else {
      this.timers = Threads.daemonScheduler("connmgr-timer");
      this.ownsTimers = true;
    }
    this.callbacks = new ThreadPoolExecutor(2, 2, 1, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
        Threads.factory("connmgr-callback"));
    this.callbacks.allowCoreThreadTimeOut(true);
    this.netty = options.channelFactory() == null ? new NettyChannelFactory(options) : null;
    this.pool = new ChannelPool(options, netty != null ? netty : options.channelFactory(), control, timers,
        this::opened, this::evicted);
    this.connector = new Connector(options, control, timers, pool, this::changed, netty);
    this.health = new HealthMonitor(options, control, timers, pool, connector, new HealthHost());
    Server.Context context = new Server.Context(pool, callbacks, health); // one for every server
    this.table = new ServerTable(options.discovery().layout(), (key, session) -> new Server(key, session, context),
        options.allowAddresses(), "allowAddresses");
    this.publisher = new Publisher(table);
    this.eagerRoles.addAll(options.dependencies());
  }

  /** Builds a manager; nothing starts until {@link #start()}. */
  public static ConnectionManager create(ConnectionOptions options) {
    return new ConnectionManager(options);
  }

  /**
   * Subscribes to the sessions and returns at once. The future completes when the initial snapshot is applied
   * (dependencies are then connecting in parallel; they need not be ready), and fails if the manager is closed first.
   * Each call returns a new future: completing or cancelling it affects nobody else. Idempotent.
   */
  public CompletableFuture<Void> start() {
    control.execute(() -> {
      if (started || closed) {
        return;
      }
      started = true;
      health.start();
      if (netty != null) {
        netty.start(timers); // TLS files checked for change on the timer thread
      }
      subscription = options.discovery().subscribeRoles(options.roles(), new Events(), control);
    });
    return ready.copy();
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
    ServerTable.Role r = role(role);
    Server e = r == null ? null : RoleView.find(r.table, serverId);
    if (e == null) {
      return unavailable(role + "-" + serverId + " is not a known server");
    }
    return e;
  }

  /**
   * A channel to one server of {@code role}, chosen by the configured {@link Picker} among READY servers (or, if none
   * is connected yet, among those not known to be down). Stopping, down and offline servers are never picked. With
   * none available, calls fail at once with {@code UNAVAILABLE}.
   */
  public Channel pick(String role) {
    RoleView v = view(role);
    Server e = v == null ? null : v.pick(powerOfTwo);
    if (e == null) {
      return unavailable("no available server of role " + role);
    }
    return e;
  }

  /**
   * The channel of a whole role: each call picks a server of {@code role} with the configured {@link Picker} as it
   * starts, so the channel keeps working as servers come and go, and a call whose server goes (deregistered, lease
   * expired), refuses it (stopping, down, offline) or loses its connection before anything of the response reached
   * the application is started again on another live server as the {@link ConnectionOptions#reissue() ReissuePolicy}
   * allows: any call the server never processed, and a call already sent when its method is idempotent or safe. With
   * no server that can take a call, it fails at once with {@code UNAVAILABLE}. The same channel is returned for a role
   * every time (its re-issue budget is the role's). Calls carry the {@code ServerID} header of the server they are on.
   * From its first use, the role's servers are connected as soon as they are known, as {@code dependsOn} roles are,
   * so that calls spread over all of them (without making the role a dependency of {@link ManagerState#HEALTHY}).
   */
  public Channel roleChannel(String role) {
    RoleChannel c = roleChannels.get(role);
    if (c == null) {
      c = roleChannels.computeIfAbsent(role, r -> new RoleChannel(r, roleHost, options.reissue(), options.ticker()));
      control.execute(() -> connectEagerly(role));
    }
    return c;
  }

  /**
   * The channel of the active server of an exclusive role (the one its {@code <root><role>} key names, Milvus'
   * active-standby coordinators): each call goes to the server active as it starts, so the channel follows the leader
   * within the watch latency. When the active key names another server (or none), calls in flight through this channel
   * to the former one fail at once with {@code UNAVAILABLE} saying so (as does a call started in the instant before the
   * role's new view is published, rather than reach the former active); a reply with the {@link StandbySignal} (the
   * server says it is a standby) makes the manager stop treating that server as active and read the active key again
   * ({@link #leader}). Calls fail at once with {@code UNAVAILABLE} while no active server is known. The same channel is
   * returned for a role every time.
   */
  public Channel active(String role) {
    ActiveChannel c = activeChannels.get(role);
    if (c == null) {
      c = activeChannels.computeIfAbsent(role, ActiveChannel::new);
    }
    return c;
  }

  /** {@link #active(String)}'s channel: the server active now, per call. */
  private final class ActiveChannel extends Channel {
    private final String role;

    ActiveChannel(String role) {
      this.role = role;
    }

    @Override
    public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions callOptions) {
      RoleView v = view(role);
      Server e = v == null ? null : v.active;
      if (e == null) {
        return FailingCall.of(Status.UNAVAILABLE.withDescription("no active server of role " + role + " is known"),
            callOptions, callbacks);
      }
      return e.activeCalls().call(method, callOptions);
    }

    @Override
    public String authority() {
      return role;
    }
  }

  /**
   * The leader of exclusive role {@code role} read now from discovery (a fresh read of its active key, through any
   * etcd member, not this manager's view): its server id, address and the revision it was read at. Never a success
   * with empty fields: the future fails with a {@link io.connmgr.discovery.DiscoveryException} whose code says what is
   * missing — {@code NO_LEADER} (no active key), {@code LEADER_MALFORMED} (the active value is not a valid session),
   * {@code LEADER_GONE} (the active key names a server whose own session is gone) or {@code UNAVAILABLE}; all are
   * retriable. Does not block.
   */
  public CompletableFuture<Leader> leader(String role) {
    return options.discovery().leader(role);
  }

  /** The health of one server, or {@code null} if unknown. */
  public ServerHealth serverHealth(String role, long serverId) {
    RoleView v = view(role);
    Server e = v == null ? null : v.byId(serverId);
    return e == null ? null : e.health();
  }

  /** The published role, through the one-entry cache. Any thread; no allocation. */
  private ServerTable.Role role(String name) {
    ServerTable.Role r = lastRole;
    if (r == null || (r.name != name && !r.name.equals(name))) {
      r = publisher.role(name);
      if (r != null) {
        lastRole = r;
      }
    }
    return r;
  }

  /** The published view of {@code role}, or {@code null}. Any thread; no allocation. */
  private RoleView view(String name) {
    ServerTable.Role r = role(name);
    return r == null ? null : r.view;
  }

  private Channel unavailable(String description) {
    return FailingCall.channel(Status.UNAVAILABLE.withDescription(description), "connmgr", callbacks);
  }

  /** The state of one server, or {@code null} if unknown. */
  public ServerState serverState(String role, long serverId) {
    RoleView v = view(role);
    Server e = v == null ? null : v.byId(serverId);
    return e == null ? null : e.state;
  }

  /** The servers of {@code role} now, by server id (document 001's clients list). */
  public List<ServerClient> clients(String role) {
    return publisher.clients(role);
  }

  /**
   * Calls {@code listener} with {@link #clients(String)} now and then once after each batch of events that changed the
   * role's servers or their states (document 001's {@code WatchClients}), on the control thread. Close the handle to
   * stop.
   */
  public AutoCloseable watchClients(String role, Consumer<List<ServerClient>> listener) {
    control.execute(() -> {
      publisher.watch(role, listener);
      Notifier.run(() -> listener.accept(clients(role)));
    });
    return () -> control.execute(() -> publisher.unwatch(role, listener));
  }

  /** Starts a connect episode for an OFFLINE (or any not READY) server now. */
  public void reconnect(String role, long serverId) {
    control.execute(() -> {
      RoleView v = view(role);
      Server e = v == null ? null : v.byId(serverId);
      if (e != null && e.state != ServerState.READY) {
        connector.start(e);
      }
    });
  }

  /** Counters and per-role figures now. */
  public ConnectionStats stats() {
    Map<String, ConnectionStats.RoleStats> roles = new HashMap<>();
    for (ServerTable.Role r : publisher.roles()) {
      RoleView v = r.view;
      if (v == null) {
        continue;
      }
      int ready = 0;
      int offline = 0;
      int stopping = 0;
      int healthy = 0;
      int ejected = 0;
      for (Server e : v.idTable()) {
        if (e == null || e == RoleView.TOMBSTONE) {
          continue;
        }
        switch (e.state) {
          case READY -> {
            ready++;
            if (e.health() == ServerHealth.HEALTHY) {
              healthy++;
            }
            if (e.isEjected()) {
              ejected++;
            }
          }
          case OFFLINE, DOWN -> offline++;
          case STOPPING -> stopping++;
          default -> { }
        }
      }
      roles.put(r.name, new ConnectionStats.RoleStats(v.size(), ready, offline, stopping, healthy, ready - healthy,
          ejected, health.ejections(r.name), disallowed(r.name)));
    }
    long allDisallowed = 0;
    for (Map.Entry<String, LongAdder> d : disallowed.entrySet()) {
      long n = d.getValue().sum();
      allDisallowed += n;
      roles.putIfAbsent(d.getKey(), new ConnectionStats.RoleStats(0, 0, 0, 0, 0, 0, 0, 0, n));
    }
    return new ConnectionStats(roles, pool.size(), connector.attempts.sum(), connector.failures.sum(),
        connector.retries.sum(), failFast.sum(), reissued.sum(), budgetExhausted.sum(), health.ejections.sum(),
        allDisallowed);
  }

  private long disallowed(String role) {
    LongAdder n = disallowed.get(role);
    return n == null ? 0 : n.sum();
  }

  /** What role channels need of the manager; the listener calls are handed to the control thread. */
  private final class RoleHost implements RoleChannel.Host {
    @Override
    public RoleView view(String role) {
      return ConnectionManager.this.view(role);
    }

    @Override
    public boolean powerOfTwo() {
      return powerOfTwo;
    }

    @Override
    public Executor callbacks() {
      return callbacks;
    }

    @Override
    public void reissued(ServerKey from, ServerKey to, MethodDescriptor<?, ?> method, Status cause) {
      reissued.increment();
      log.debug("call {} re-issued from {} to {}: {}", method.getFullMethodName(), from, to, cause);
      tell(() -> options.listener().reissued(from, to, method.getFullMethodName(), cause));
    }

    @Override
    public void budgetExhausted(String role, ServerKey from, MethodDescriptor<?, ?> method) {
      budgetExhausted.increment();
      tell(() -> options.listener().reissueBudgetExhausted(role, from, method.getFullMethodName()));
    }

    private void tell(Runnable r) {
      if (options.listener() != ConnectionListener.NONE && !closed) {
        control.execute(() -> Notifier.run(r)); // dropped once the manager is closed
      }
    }
  }

  /** What the health monitor needs of the manager (control thread). */
  private final class HealthHost implements HealthMonitor.Host {
    @Override
    public void changed(Server e) {
      ConnectionManager.this.changed(e);
    }

    @Override
    public void failedFast(Server e, int count) {
      failFast.add(count);
      if (count > 0) {
        Notifier.run(() -> options.listener().callsFailedFast(e.key, count));
      }
    }

    @Override
    public void standby(Server e, Status status) {
      ServerTable.Role r = table.find(e.key.role());
      if (r == null || r.active != e || closed) {
        return;
      }
      log.warn("{} answered as a standby ({}) while the active key of {} names it; reading the active key again",
          e.key, status.getDescription(), r.name);
      r.active = null;
      table.markDirty(r);
      sink.activeChanged(r, e, null);
      scheduleFlush();
      refreshActive(r);
    }

    @Override
    public Iterable<Server> roleServers(String role) {
      ServerTable.Role r = table.find(role);
      return r == null ? List.of() : r.servers.values();
    }
  }

  /** Reads the active key of {@code r} again (a standby answered) and follows it if it names a known server. */
  private void refreshActive(ServerTable.Role r) {
    if (r.refreshingActive) {
      return;
    }
    r.refreshingActive = true;
    options.discovery().leader(r.name).whenCompleteAsync((leader, err) -> {
      r.refreshingActive = false;
      if (closed) {
        return;
      }
      if (err != null) {
        log.info("the active key of {} could not be read after a standby answer: {}", r.name, err.getMessage());
        return;
      }
      Server s = r.servers.get(new ServerKey(r.name, leader.serverId(), leader.address()));
      if (s != null && r.active == null) {
        r.active = s;
        table.markDirty(r);
        sink.activeChanged(r, null, s);
        scheduleFlush();
      }
    }, control);
  }

  // ------------------------------------------------------------------ session events (control thread)

  private final class Events extends SessionListener {
    @Override
    public void onEvent(SessionEvent e) {
      if (closed) {
        return;
      }
      table.apply(e, sink);
      if (synced && table.hasDirty()) {
        if (++sinceFlush >= MAX_BATCH) {
          flush();
        } else {
          scheduleFlush();
        }
      }
    }

    @Override
    public void onSynced(long revision) {
      boolean first = !synced;
      synced = true;
      discoveryConnected = true;
      flush();
      if (first) {
        for (ServerTable.Role r : table.roles()) {
          if (eagerRoles.contains(r.name)) {
            connectIdle(r);
          }
        }
        ready.complete(null);
        log.info("connection manager synced at revision {}: {} server(s)", revision, table.size());
      }
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

  /** The side effects of the table's transitions, run as each event is applied. */
  private final class Sink implements ServerTable.Sink {
    @Override
    public void created(Server e) {
      if (!removedNames.isEmpty() && removedNames.remove(new RoleAndId(e.key.role(), e.serverId))) {
        e.wasDown = true; // reported as restored once it is READY
      }
      if (synced && eagerRoles.contains(e.key.role())) {
        connector.start(e);
      }
    }

    @Override
    public void removed(Server e, String reason) {
      health.sync(e);
      int failed = e.failAll(e.refusal());
      failFast.add(failed);
      if (e.pooled) {
        pool.close(e.key);
      }
      connector.removed(e);
      removedNames.add(new RoleAndId(e.key.role(), e.serverId));
      if (failed > 0) {
        log.info("server {} removed ({}); {} call(s) in flight failed", e.key, reason, failed);
      } else {
        log.debug("server {} removed ({})", e.key, reason); // a mass re-registration must not cost a log line each
      }
      Notifier.run(() -> options.listener().removed(e.key, reason));
      if (failed > 0) {
        Notifier.run(() -> options.listener().callsFailedFast(e.key, failed));
      }
    }

    @Override
    public void disallowed(String key, io.connmgr.discovery.Session session) {
      disallowed.computeIfAbsent(session.role(), r -> new LongAdder()).increment();
    }

    @Override
    public void stopping(Server e) {
      health.sync(e);
      Notifier.run(() -> options.listener().stopping(e.key));
    }

    @Override
    public void renewed(Server e) {
      health.sync(e);
      connector.start(e);
    }

    @Override
    public void activeChanged(ServerTable.Role role, Server from, Server to) {
      if (from != null) {
        Status st = Status.UNAVAILABLE.withDescription(from.key + " is no longer the active " + role.name
            + (to == null ? "" : "; " + to.key + " is"));
        Server.ActiveTracker t = from.activeCalls();
        t.refusal = st;
        int failed = t.failAll(st);
        failFast.add(failed);
        if (failed > 0) {
          log.info("{} call(s) in flight to {} failed: no longer the active {}", failed, from.key, role.name);
        }
      }
      if (to != null) {
        Server.ActiveTracker t = to.activeCalls;
        if (t != null) {
          t.refusal = null;
        }
      }
      if (synced) {
        ServerKey f = from == null ? null : from.key;
        ServerKey n = to == null ? null : to.key;
        Notifier.run(() -> options.listener().activeChanged(role.name, f, n));
      }
    }
  }

  /** From now on the servers of {@code role} connect as soon as they are known (control thread). */
  private void connectEagerly(String role) {
    if (eagerRoles.add(role) && synced && !closed) {
      ServerTable.Role r = table.find(role);
      if (r != null) {
        connectIdle(r);
      }
    }
  }

  private void connectIdle(ServerTable.Role r) {
    for (Server e : r.servers.values()) {
      if (e.state == ServerState.IDLE) {
        connector.start(e);
      }
    }
  }

  /** A server's state changed outside the table (connectivity, episodes): publish its role with the batch. */
  private void changed(Server e) {
    health.sync(e);
    ServerTable.Role r = table.find(e.key.role());
    if (r != null && e.state != ServerState.REMOVED) {
      table.markDirty(r, e);
      if (synced) {
        scheduleFlush();
      }
    }
  }

  /** Publishes after the events queued now are applied (the batch), or a little later if the batch is small. */
  private void scheduleFlush() {
    if (!flushScheduled) {
      flushScheduled = true;
      control.execute(this::flushIfDue);
    }
  }

  private void flushIfDue() {
    flushScheduled = false;
    if ((long) sinceFlush * FLUSH_RATIO >= lastFlushWork) {
      flush();
    } else if (!flushTimerSet && !closed) {
      flushTimerSet = true;
      controlThread.schedule(() -> control.execute(() -> {
        flushTimerSet = false;
        flush();
      }), FLUSH_DELAY_MICROS, TimeUnit.MICROSECONDS);
    }
  }

  /** The pool opened {@code ch} for {@code e} (on any thread): watch its connectivity on the control thread. */
  private void opened(Server e, ManagedChannel ch) {
    control.execute(() -> connector.watch(e, ch));
  }

  private void evicted(ServerKey key, ManagedChannel ch) {
    ServerTable.Role r = table.find(key.role());
    Server e = r == null ? null : r.servers.get(key);
    if (e != null) {
      connector.evicted(e, ch);
    }
  }

  // ------------------------------------------------------------------ publication (control thread)

  private void flush() {
    sinceFlush = 0;
    if (closed || !synced) {
      return;
    }
    if (table.hasDirty()) {
      lastFlushWork = publisher.flush(Notifier::run);
    }
    updateState();
  }

  private void updateState() {
    if (closed || !synced) {
      return;
    }
    boolean healthy = discoveryConnected;
    for (String dep : options.dependencies()) {
      RoleView v = view(dep);
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
      Notifier.run(() -> options.listener().stateChanged(prev, next));
    }
  }

  /**
   * Stops: no new calls (they fail with UNAVAILABLE), the subscription closes, every channel shuts down (calls in
   * flight are cancelled), and the manager's threads end. Idempotent; does not block: {@link #awaitTermination} waits
   * for all of that to finish.
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
      connector.close();
      health.close();
      if (netty != null) {
        netty.close();
      }
      table.clear(Status.UNAVAILABLE.withDescription("connection manager closed"));
      publisher.clear();
      pool.closeAll();
      ready.completeExceptionally(new IllegalStateException("connection manager closed"));
      if (ownsTimers) {
        timers.shutdownNow();
      }
      callbacks.shutdown();
      controlThread.shutdown();
    });
  }

  /**
   * Waits until, after {@link #close()}, the manager's threads have ended and every channel it opened has terminated.
   * Returns false if that took longer than {@code timeout}.
   */
  public boolean awaitTermination(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    if (!controlThread.awaitTermination(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
      return false;
    }
    if (ownsTimers && !timers.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
      return false;
    }
    if (!callbacks.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
      return false;
    }
    return pool.awaitTermination(deadline);
  }
}
