package io.connmgr.discovery;

import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * Where a client learns which servers exist: a snapshot of the sessions at a revision, and subscriptions that deliver
 * every later change in order, without losing any. Implemented by {@link EtcdDiscovery}, {@link StaticFileDiscovery}
 * and {@link InMemoryRegistry}; the same conformance suite runs against each.
 *
 * <p><b>Threading.</b> Implementations are thread-safe and no method blocks: reads return futures, subscriptions
 * deliver on a serial executor (see {@link SessionListener}). Futures complete on a discovery-owned thread; chain
 * with {@code *Async} methods if the continuation may block.
 *
 * <p><b>Delivery guarantee.</b> A subscription first delivers {@link SessionEvent.Type#ADDED} for each session of a
 * snapshot at revision R, then {@link SessionListener#onSynced(long)} with R, then every change after R in order.
 * After a disconnection it resumes from the last delivered revision + 1; if the backend cannot replay from there
 * (etcd compacted its history) it re-lists and delivers the difference (REMOVED with {@link SessionEvent.Cause#RESYNC}
 * for what is gone, ADDED/UPDATED/STOPPING for what is new or changed), then onSynced again. Invalid values are
 * skipped with a warning and counted in {@link DiscoveryStats#invalidValues()}.
 */
public interface Discovery extends AutoCloseable {

  /** The sessions of every role at the current revision. */
  default CompletableFuture<SessionSnapshot> snapshot() {
    return snapshot(null);
  }

  /**
   * The sessions of one role (exact, case-sensitive match on {@link Session#role()}), or of every role if
   * {@code role} is {@code null}.
   */
  CompletableFuture<SessionSnapshot> snapshot(String role);

  /** Subscribes to every role, delivering on this discovery's own event thread. */
  default Subscription subscribe(SessionListener listener) {
    return subscribe(null, listener, null);
  }

  /**
   * Subscribes to one role ({@code null}: every role).
   *
   * @param executor where events are delivered, wrapped so that deliveries are serial; {@code null} for this
   *                 discovery's own event thread
   * @throws DiscoveryException with {@link DiscoveryException.Code#CLOSED} after {@link #close()}
   */
  default Subscription subscribe(String role, SessionListener listener, Executor executor) {
    return subscribeRoles(role == null ? Set.of() : Set.of(role), listener, executor);
  }

  /**
   * Subscribes to a set of roles (empty: every role). A key whose shape ({@code <root><role>-<id>} or
   * {@code <root><role>}) names another role is skipped before its value is decoded, so a subscriber of a few roles
   * pays nothing for the sessions of the others.
   *
   * @param executor where events are delivered, wrapped so that deliveries are serial; {@code null} for this
   *                 discovery's own event thread
   * @throws DiscoveryException with {@link DiscoveryException.Code#CLOSED} after {@link #close()}
   */
  Subscription subscribeRoles(Set<String> roles, SessionListener listener, Executor executor);

  /**
   * The leader of an exclusive role: the server its active key ({@code <root><role>}) names, read now (a fresh,
   * linearizable read, not a cached view), with the revision it was read at. Never a success with empty fields: the
   * future fails with a {@link DiscoveryException} whose code says exactly what is missing —
   * {@link DiscoveryException.Code#NO_LEADER} (no active key), {@link DiscoveryException.Code#LEADER_MALFORMED} (the
   * active value is not a valid session), {@link DiscoveryException.Code#LEADER_GONE} (the active key names a server
   * whose own session key {@code <root><role>-<id>} is gone), or {@link DiscoveryException.Code#UNAVAILABLE}. All of
   * them are retriable.
   */
  CompletableFuture<Leader> leader(String role);

  /** The layout of keys this discovery reads. */
  KeyLayout layout();

  /** Counters since this discovery was built. */
  DiscoveryStats stats();

  /** Closes every subscription and releases connections and threads. Idempotent; does not wait for I/O. */
  @Override
  void close();
}
