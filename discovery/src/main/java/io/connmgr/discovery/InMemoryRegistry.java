package io.connmgr.discovery;

import io.connmgr.discovery.internal.AbstractSubscription;
import io.connmgr.discovery.internal.Backoff;
import io.connmgr.discovery.internal.Counters;
import io.connmgr.discovery.internal.LeaderRead;
import io.connmgr.discovery.internal.LeaseBackend;
import io.connmgr.discovery.internal.RawKeyValue;
import io.connmgr.discovery.internal.SessionRegistration;
import io.connmgr.discovery.internal.RoleFilter;
import io.connmgr.discovery.internal.SessionTable;
import io.connmgr.discovery.internal.Threads;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

/**
 * An in-process session registry with etcd's semantics: keys, revisions, leases with TTLs, create-if-absent. It is
 * both a {@link Discovery} and a {@link Registry}, the embedded default for the demo and for tests of the layers
 * above, and passes the same conformance suite as {@link EtcdDiscovery}. Nothing leaves the process.
 *
 * <p><b>Threading.</b> Thread-safe. Writes take a short internal lock and never block on listeners: events are queued
 * to each subscription's serial executor under the lock (so they keep revision order) and delivered outside it.
 * Leases expire on the registry's scheduler thread, measured by its ticker; {@link KeyValues#expireLease(long)} ends one
 * at once.
 *
 * <p><b>Raw access.</b> {@link #kv()} gives the etcd-like key-value and lease API underneath (get, put, delete, leases),
 * for tests and tools that write keys the way a server or an operator would.
 */
public final class InMemoryRegistry implements Discovery, Registry {

  private record Stored(byte[] value, long modRevision, long lease) {}

  private static final class Lease {
    final long id;
    final long ttlNanos;
    long deadline;
    final Set<String> keys = new HashSet<>();

    Lease(long id, long ttlNanos, long deadline) {
      this.id = id;
      this.ttlNanos = ttlNanos;
      this.deadline = deadline;
    }
  }

  private final KeyLayout layout;
  private final LongSupplier ticker;
  private final ScheduledExecutorService scheduler;
  private final boolean ownsScheduler;
  private final Counters counters = new Counters();
  private final Backoff backoff = new Backoff(Duration.ofMillis(50), Duration.ofSeconds(2));
  private final Object lock = new Object();
  private final TreeMap<String, Stored> data = new TreeMap<>();
  private final Map<Long, Lease> leases = new HashMap<>();
  private final Set<MemorySubscription> subscriptions = new CopyOnWriteArraySet<>();
  /** Registrations' watches of single keys (active keys), by key; guarded by lock. */
  private final Map<String, List<LeaseBackend.KeyWatcher>> keyWatchers = new HashMap<>();
  private long revision = 1;
  private long nextLease = 0x1000;
  private volatile boolean closed;

  private InMemoryRegistry(Builder b) {
    this.layout = b.layout;
    this.ticker = b.ticker;
    if (b.scheduler != null) {
      this.scheduler = b.scheduler;
      this.ownsScheduler = false;
    } else {
      this.scheduler = Threads.daemonScheduler("connmgr-inmemory-registry");
      this.ownsScheduler = true;
    }
  }

  /** A registry with Milvus' key layout, the system clock and its own daemon thread. */
  public static InMemoryRegistry create() {
    return builder().build();
  }

  /** A builder. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * {@inheritDoc}
   *
   * <p>Reads the active key and the named server's own key under the registry's lock, so both at the current revision
   * (which is {@link Leader#revision()}); the same rules as {@link EtcdDiscovery#leader}. Completes at once.
   */
  @Override
  public CompletableFuture<Leader> leader(String role) {
    Objects.requireNonNull(role, "role");
    synchronized (lock) {
      if (closed) {
        return CompletableFuture.failedFuture(
            new DiscoveryException(DiscoveryException.Code.CLOSED, "in-memory registry is closed"));
      }
      String activeKey = layout.activeKey(role);
      Stored active = data.get(activeKey);
      try {
        Session s = LeaderRead.activeSession(layout, role,
            active == null ? null : new RawKeyValue(activeKey, active.value, active.modRevision, active.lease),
            revision);
        return CompletableFuture.completedFuture(
            LeaderRead.leader(layout, s, revision, data.containsKey(LeaderRead.ownKey(layout, s))));
      } catch (DiscoveryException e) {
        return CompletableFuture.failedFuture(e);
      }
    }
  }

  @Override
  public KeyLayout layout() {
    return layout;
  }

  @Override
  public DiscoveryStats stats() {
    return counters.snapshot();
  }

  // ---------------------------------------------------------------- raw key-value API (etcd-like)

  private final KeyValues kv = new KeyValues();

  /** The raw, etcd-like key-value and lease API of this registry. */
  public KeyValues kv() {
    return kv;
  }

  /**
   * The raw key-value and lease API of an {@link InMemoryRegistry}, with etcd's semantics: keys, revisions, leases
   * with TTLs. Writes here are seen by the registry's subscribers like any other write. Obtained with
   * {@link InMemoryRegistry#kv()}.
   *
   * <p><b>Threading.</b> Thread-safe; every method takes the registry's short internal lock and never blocks on
   * listeners.
   */
  public final class KeyValues {

    private KeyValues() {}

    /** The current revision: 1 when empty, +1 for every write. */
    public long revision() {
      synchronized (lock) {
        return revision;
      }
    }

    /** The value at {@code key}, if any. */
    public Optional<byte[]> get(String key) {
      synchronized (lock) {
        Stored s = data.get(key);
        return s == null ? Optional.empty() : Optional.of(s.value.clone());
      }
    }

    /** Puts {@code value} at {@code key} with no lease; returns the new revision. */
    public long put(String key, byte[] value) {
      return put(key, value, 0);
    }

    /** Puts a UTF-8 string. */
    public long put(String key, String value) {
      return put(key, value.getBytes(StandardCharsets.UTF_8), 0);
    }

    /**
     * Puts {@code value} at {@code key} attached to {@code leaseId} (0: none); returns the new revision.
     *
     * @throws DiscoveryException with {@link DiscoveryException.Code#SESSION_LOST} if the lease does not exist
     */
    public long put(String key, byte[] value, long leaseId) {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(value, "value");
      synchronized (lock) {
        checkOpen();
        if (leaseId != 0 && !leases.containsKey(leaseId)) {
          throw new DiscoveryException(DiscoveryException.Code.SESSION_LOST, "lease " + leaseId + " not found");
        }
        revision++;
        putLocked(key, value.clone(), leaseId);
        return revision;
      }
    }

    /** Deletes {@code key}; returns the new revision, or 0 if the key was absent. */
    public long delete(String key) {
      synchronized (lock) {
        checkOpen();
        if (!data.containsKey(key)) {
          return 0;
        }
        revision++;
        deleteLocked(key, null);
        return revision;
      }
    }

    /** Deletes every key starting with {@code prefix} in one revision; returns how many went. */
    public int deletePrefix(String prefix) {
      synchronized (lock) {
        checkOpen();
        List<String> keys = new ArrayList<>(data.subMap(prefix, prefix + Character.MAX_VALUE).keySet());
        if (!keys.isEmpty()) {
          revision++;
          keys.forEach(k -> deleteLocked(k, null));
        }
        return keys.size();
      }
    }

    /** Grants a lease that expires {@code ttl} after its last keep-alive; returns its id. */
    public long grantLease(Duration ttl) {
      if (ttl.isNegative() || ttl.isZero()) {
        throw new IllegalArgumentException("ttl must be positive: " + ttl);
      }
      synchronized (lock) {
        checkOpen();
        long id = nextLease++;
        Lease l = new Lease(id, ttl.toNanos(), ticker.getAsLong() + ttl.toNanos());
        leases.put(id, l);
        scheduleExpiry(l);
        return id;
      }
    }

    /** Renews {@code leaseId}; false if it no longer exists. */
    public boolean keepAlive(long leaseId) {
      synchronized (lock) {
        Lease l = leases.get(leaseId);
        if (l == null) {
          return false;
        }
        l.deadline = ticker.getAsLong() + l.ttlNanos;
        return true;
      }
    }

    /** Revokes {@code leaseId}: its keys are deleted in one revision. False if it did not exist. */
    public boolean revokeLease(long leaseId) {
      return endLease(leaseId, SessionEvent.Cause.DEREGISTERED);
    }

    /** Ends {@code leaseId} as if its TTL ran out (for tests): its keys go with cause LEASE_EXPIRED. */
    public boolean expireLease(long leaseId) {
      return endLease(leaseId, SessionEvent.Cause.LEASE_EXPIRED);
    }

    /** The ids of the live leases. */
    public Set<Long> leases() {
      synchronized (lock) {
        return Set.copyOf(leases.keySet());
      }
    }
  }

  private boolean endLease(long leaseId, SessionEvent.Cause cause) {
    synchronized (lock) {
      Lease l = leases.remove(leaseId);
      if (l == null) {
        return false;
      }
      if (!l.keys.isEmpty()) {
        revision++;
        for (String k : new ArrayList<>(l.keys)) {
          deleteLocked(k, cause);
        }
      }
      return true;
    }
  }

  private void scheduleExpiry(Lease l) {
    long delay = Math.max(0, l.deadline - ticker.getAsLong());
    try {
      scheduler.schedule(() -> checkExpiry(l.id), delay, TimeUnit.NANOSECONDS);
    } catch (RuntimeException e) {
      // scheduler shut down: the registry is closing
    }
  }

  private void checkExpiry(long leaseId) {
    synchronized (lock) {
      Lease l = leases.get(leaseId);
      if (l == null || closed) {
        return;
      }
      if (ticker.getAsLong() - l.deadline < 0) {
        scheduleExpiry(l);
        return;
      }
    }
    kv.expireLease(leaseId);
  }

  private void putLocked(String key, byte[] value, long leaseId) {
    Stored old = data.get(key);
    if (old != null && old.lease != 0 && old.lease != leaseId) {
      Lease ol = leases.get(old.lease);
      if (ol != null) {
        ol.keys.remove(key);
      }
    }
    data.put(key, new Stored(value, revision, leaseId));
    if (leaseId != 0) {
      leases.get(leaseId).keys.add(key);
    }
    RawKeyValue kv = new RawKeyValue(key, value, revision, leaseId);
    for (MemorySubscription s : subscriptions) {
      s.enqueuePut(kv);
    }
    List<LeaseBackend.KeyWatcher> watchers = keyWatchers.get(key);
    if (watchers != null) {
      for (LeaseBackend.KeyWatcher w : watchers) {
        w.onPut(leaseId, revision); // a registration's watcher: only hands off to its serial executor
      }
    }
  }

  private void deleteLocked(String key, SessionEvent.Cause cause) {
    Stored old = data.remove(key);
    if (old != null && old.lease != 0) {
      Lease l = leases.get(old.lease);
      if (l != null) {
        l.keys.remove(key);
      }
    }
    long rev = revision;
    for (MemorySubscription s : subscriptions) {
      s.enqueueDelete(key, rev, cause);
    }
    List<LeaseBackend.KeyWatcher> watchers = old == null ? null : keyWatchers.get(key);
    if (watchers != null) {
      for (LeaseBackend.KeyWatcher w : watchers) {
        w.onDelete(rev);
      }
    }
  }

  private List<RawKeyValue> listLocked() {
    List<RawKeyValue> out = new ArrayList<>(data.size());
    data.forEach((k, v) -> out.add(new RawKeyValue(k, v.value, v.modRevision, v.lease)));
    return out;
  }

  private void checkOpen() {
    if (closed) {
      throw new DiscoveryException(DiscoveryException.Code.CLOSED, "in-memory registry is closed");
    }
  }

  // ---------------------------------------------------------------- Discovery

  @Override
  public CompletableFuture<SessionSnapshot> snapshot(String role) {
    List<RawKeyValue> listing;
    long rev;
    synchronized (lock) {
      if (closed) {
        return CompletableFuture.failedFuture(
            new DiscoveryException(DiscoveryException.Code.CLOSED, "in-memory registry is closed"));
      }
      listing = listLocked();
      rev = revision;
    }
    return CompletableFuture.completedFuture(SessionTable.snapshot(layout, role, listing, rev, counters));
  }

  @Override
  public Subscription subscribeRoles(Set<String> roles, SessionListener listener, Executor executor) {
    Objects.requireNonNull(listener, "listener");
    MemorySubscription s =
        new MemorySubscription(RoleFilter.of(roles), listener, executor != null ? executor : scheduler);
    synchronized (lock) {
      checkOpen();
      List<RawKeyValue> listing = listLocked();
      long rev = revision;
      s.enqueueInitial(listing, rev);
      subscriptions.add(s);
    }
    return s;
  }

  private final class MemorySubscription extends AbstractSubscription {
    MemorySubscription(RoleFilter roles, SessionListener listener, Executor executor) {
      super(layout, roles, listener, executor, InMemoryRegistry.this.counters);
    }

    void enqueueInitial(List<RawKeyValue> listing, long rev) {
      serial.execute(() -> {
        List<SessionEvent> out = new ArrayList<>();
        table.resync(listing, rev, out);
        deliver(out);
        synced(rev);
      });
    }

    void enqueuePut(RawKeyValue kv) {
      serial.execute(() -> {
        List<SessionEvent> out = new ArrayList<>(1);
        table.put(kv, out);
        deliver(out);
      });
    }

    void enqueueDelete(String key, long rev, SessionEvent.Cause cause) {
      serial.execute(() -> {
        List<SessionEvent> out = new ArrayList<>(1);
        table.delete(key, rev, cause, out);
        deliver(out);
      });
    }

    @Override
    protected void onClose() {
      subscriptions.remove(this);
    }
  }

  // ---------------------------------------------------------------- Registry

  @Override
  public CompletableFuture<Long> allocateServerId() {
    synchronized (lock) {
      checkOpen();
      String key = layout.counterKeyPath();
      Stored s = data.get(key);
      long next = 1;
      if (s != null) {
        try {
          next = Long.parseLong(new String(s.value, StandardCharsets.UTF_8).trim()) + 1;
        } catch (NumberFormatException e) {
          return CompletableFuture.failedFuture(new DiscoveryException(DiscoveryException.Code.CONFLICT,
              "counter key '" + key + "' does not hold a decimal"));
        }
      }
      revision++;
      putLocked(key, Long.toString(next).getBytes(StandardCharsets.UTF_8), 0);
      return CompletableFuture.completedFuture(next);
    }
  }

  @Override
  public CompletableFuture<Registration> register(Session session, Duration ttl, RegistrationListener listener) {
    Objects.requireNonNull(session, "session");
    Objects.requireNonNull(listener, "listener");
    if (ttl.compareTo(Duration.ofSeconds(1)) < 0) {
      throw new IllegalArgumentException("ttl: must be at least 1s, was " + ttl);
    }
    return SessionRegistration.register(new MemoryLeases(), layout, session, ttl.toSeconds(), listener, backoff);
  }

  private final class MemoryLeases implements LeaseBackend {
    @Override
    public CompletableFuture<Long> grant(long ttlSeconds) {
      try {
        return CompletableFuture.completedFuture(kv.grantLease(Duration.ofSeconds(ttlSeconds)));
      } catch (RuntimeException e) {
        return CompletableFuture.failedFuture(e);
      }
    }

    @Override
    public CompletableFuture<Created> create(String sessionKey, String activeKey, byte[] value, long lease,
        long previousLease) {
      synchronized (lock) {
        if (closed || !leases.containsKey(lease)) {
          return CompletableFuture.failedFuture(
              new DiscoveryException(DiscoveryException.Code.UNAVAILABLE, "registry closed or lease gone"));
        }
        if (!freeFor(sessionKey, previousLease)) {
          return CompletableFuture.completedFuture(new Created(CreateResult.CONFLICT, revision));
        }
        boolean takeActive = activeKey != null && freeFor(activeKey, previousLease);
        revision++;
        putLocked(sessionKey, value.clone(), lease);
        if (takeActive) {
          putLocked(activeKey, value.clone(), lease);
        }
        return CompletableFuture.completedFuture(
            new Created(takeActive ? CreateResult.CREATED_ACTIVE : CreateResult.CREATED, revision));
      }
    }

    @Override
    public CompletableFuture<Claim> claim(String key, byte[] value, long lease) {
      synchronized (lock) {
        if (closed) {
          return CompletableFuture.failedFuture(
              new DiscoveryException(DiscoveryException.Code.UNAVAILABLE, "in-memory registry is closed"));
        }
        if (!leases.containsKey(lease)) {
          return CompletableFuture.failedFuture(
              new DiscoveryException(DiscoveryException.Code.SESSION_LOST, "lease " + lease + " not found"));
        }
        Stored held = data.get(key);
        if (held != null) {
          return CompletableFuture.completedFuture(new Claim(false, held.lease, revision));
        }
        revision++;
        putLocked(key, value.clone(), lease);
        return CompletableFuture.completedFuture(new Claim(true, lease, revision));
      }
    }

    @Override
    public CompletableFuture<Boolean> release(String key, long lease) {
      return ifHeld(key, lease, () -> deleteLocked(key, null));
    }

    /** Runs {@code change} (a new revision) if {@code key} is on {@code lease} now; whether it did. */
    private CompletableFuture<Boolean> ifHeld(String key, long lease, Runnable change) {
      synchronized (lock) {
        if (closed) {
          return CompletableFuture.failedFuture(
              new DiscoveryException(DiscoveryException.Code.UNAVAILABLE, "in-memory registry is closed"));
        }
        Stored held = data.get(key);
        if (held == null || held.lease != lease) {
          return CompletableFuture.completedFuture(false);
        }
        revision++;
        change.run();
        return CompletableFuture.completedFuture(true);
      }
    }

    @Override
    public AutoCloseable watch(String key, long fromRevision, KeyWatcher watcher) {
      synchronized (lock) {
        if (closed) {
          watcher.onEnded(new DiscoveryException(DiscoveryException.Code.CLOSED, "in-memory registry is closed"));
          return () -> {};
        }
        // no history here: report what changed since fromRevision - 1 (when the caller saw the key) as one event
        Stored now = data.get(key);
        if (now == null) {
          watcher.onDelete(revision);
        } else if (now.modRevision >= fromRevision) {
          watcher.onPut(now.lease, now.modRevision);
        }
        keyWatchers.computeIfAbsent(key, k -> new ArrayList<>(2)).add(watcher);
      }
      return () -> {
        synchronized (lock) {
          List<LeaseBackend.KeyWatcher> list = keyWatchers.get(key);
          if (list != null && list.remove(watcher) && list.isEmpty()) {
            keyWatchers.remove(key);
          }
        }
      };
    }

    private boolean freeFor(String key, long previousLease) {
      Stored s = data.get(key);
      return s == null || (previousLease != 0 && s.lease == previousLease);
    }

    @Override
    public CompletableFuture<Boolean> putIfHeld(String key, byte[] value, long lease) {
      return ifHeld(key, lease, () -> putLocked(key, value.clone(), lease));
    }

    @Override
    public CompletableFuture<Void> put(List<String> keys, byte[] value, long lease) {
      synchronized (lock) {
        if (closed || !leases.containsKey(lease)) {
          return CompletableFuture.failedFuture(
              new DiscoveryException(DiscoveryException.Code.SESSION_LOST, "lease " + lease + " not found"));
        }
        revision++;
        keys.forEach(k -> putLocked(k, value.clone(), lease));
        return CompletableFuture.completedFuture(null);
      }
    }

    @Override
    public CompletableFuture<Void> revoke(long lease) {
      kv.revokeLease(lease);
      return CompletableFuture.completedFuture(null);
    }

    @Override
    public AutoCloseable keepAlive(long lease, long ttlSeconds, Consumer<Throwable> onLost) {
      MemoryKeepAlive k = new MemoryKeepAlive(lease, Math.max(1, ttlSeconds * 1000 / 3), onLost);
      k.schedule(0);
      return k;
    }

    @Override
    public ScheduledExecutorService scheduler() {
      return scheduler;
    }
  }

  /**
   * Renews one lease every {@code periodMillis} with one-shot tasks, each scheduling the next. No run depends on the
   * scheduling call having returned (a scheduler may run the first one before {@code schedule} returns), so a lease
   * already gone at the first run reaches {@code onLost} like any other. {@code onLost} is called at most once, and
   * never after {@link #close()}.
   */
  private final class MemoryKeepAlive implements Runnable, AutoCloseable {
    private final long lease;
    private final long periodMillis;
    private final Consumer<Throwable> onLost;
    private final java.util.concurrent.atomic.AtomicBoolean ended = new java.util.concurrent.atomic.AtomicBoolean();
    private final java.util.concurrent.atomic.AtomicReference<java.util.concurrent.ScheduledFuture<?>> next =
        new java.util.concurrent.atomic.AtomicReference<>();

    MemoryKeepAlive(long lease, long periodMillis, Consumer<Throwable> onLost) {
      this.lease = lease;
      this.periodMillis = periodMillis;
      this.onLost = onLost;
    }

    void schedule(long delayMillis) {
      if (ended.get()) {
        return;
      }
      java.util.concurrent.ScheduledFuture<?> f;
      try {
        f = scheduler.schedule(this, delayMillis, TimeUnit.MILLISECONDS);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        end(new DiscoveryException(DiscoveryException.Code.CLOSED,
            "keep-alive of lease " + Long.toHexString(lease) + " ended: the registry's scheduler is shut down"));
        return;
      }
      next.set(f); // only for close(): a run that finds ended set does nothing, so a stale future here is harmless
      if (ended.get()) {
        f.cancel(false);
      }
    }

    @Override
    public void run() {
      if (ended.get()) {
        return;
      }
      boolean alive;
      try {
        alive = kv.keepAlive(lease);
      } catch (RuntimeException e) {
        end(e);
        return;
      }
      if (alive) {
        schedule(periodMillis);
      } else {
        end(new DiscoveryException(DiscoveryException.Code.SESSION_LOST,
            "lease " + Long.toHexString(lease) + " not found"));
      }
    }

    private void end(Throwable cause) {
      if (ended.compareAndSet(false, true)) {
        try {
          onLost.accept(cause);
        } catch (RuntimeException e) {
          // the owner could not take the news (e.g. its executor is shut down as the registry closes): nothing to do
        }
      }
    }

    @Override
    public void close() {
      ended.set(true);
      java.util.concurrent.ScheduledFuture<?> f = next.get();
      if (f != null) {
        f.cancel(false);
      }
    }
  }

  /** Closes every subscription and, if the registry owns its scheduler, stops its thread. Idempotent. */
  @Override
  public void close() {
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
    }
    subscriptions.forEach(Subscription::close);
    if (ownsScheduler) {
      scheduler.shutdown();
    }
  }

  /** Builds an {@link InMemoryRegistry}; not thread-safe. */
  public static final class Builder {
    private KeyLayout layout = KeyLayout.MILVUS;
    private LongSupplier ticker = System::nanoTime;
    private ScheduledExecutorService scheduler;

    private Builder() {}

    /** The key layout; Milvus' by default. */
    public Builder layout(KeyLayout value) {
      this.layout = Objects.requireNonNull(value, "layout");
      return this;
    }

    /** The session prefix (Milvus' counter key name); {@code by-dev/meta/session/} by default. */
    public Builder root(String value) {
      this.layout = KeyLayout.withRoot(value);
      return this;
    }

    /** Nanosecond time source for lease expiry; {@code System::nanoTime} by default. */
    public Builder ticker(LongSupplier value) {
      this.ticker = Objects.requireNonNull(value, "ticker");
      return this;
    }

    /**
     * The scheduler for lease expiry, keep-alives and default event delivery; by default the registry starts (and
     * closes) one daemon thread of its own. A supplied scheduler is not shut down by {@link #close()}.
     */
    public Builder scheduler(ScheduledExecutorService value) {
      this.scheduler = Objects.requireNonNull(value, "scheduler");
      return this;
    }

    /** The registry. */
    public InMemoryRegistry build() {
      return new InMemoryRegistry(this);
    }
  }
}
