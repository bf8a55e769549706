package io.connmgr.discovery.internal;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/**
 * What a {@link SessionRegistration} needs from a backend. Implementations never block, and never call back under a
 * lock the caller could hold; callbacks ({@link #keepAlive}'s {@code onLost}, a {@link KeyWatcher}) may come on any
 * thread (a jetcd/Vert.x thread, the registry's lock holder) and must only hand work off.
 */
public interface LeaseBackend {

  /** Outcome of {@link #create}. */
  enum CreateResult { CONFLICT, CREATED, CREATED_ACTIVE }

  /**
   * What {@link #create} did, and the revision at which its outcome held: when the active key was asked for and not
   * taken, it was held by another lease at {@code revision}, so a watch from {@code revision + 1} sees every later
   * change of it.
   */
  record Created(CreateResult result, long revision) {}

  /**
   * What {@link #claim} found: either the key was absent and is now ours ({@code acquired}, put at {@code revision}),
   * or it was held by {@code holderLease} at {@code revision} (which may be our own lease, if an earlier claim took it
   * and its answer was lost).
   */
  record Claim(boolean acquired, long holderLease, long revision) {}

  /** Told about one key's changes after a revision (see {@link #watch}). Called on any thread; must not block. */
  interface KeyWatcher {
    /** The key was put at {@code revision}, attached to {@code lease} (0: none). */
    void onPut(long lease, long revision);

    /** The key was deleted at {@code revision}. */
    void onDelete(long revision);

    /**
     * The watch ended by itself (backend unreachable, history compacted, watcher cancelled); no more calls follow.
     * Re-read the key's state to go on.
     */
    void onEnded(Throwable cause);
  }

  /** Grants a lease of {@code ttlSeconds}; completes with its id. */
  CompletableFuture<Long> grant(long ttlSeconds);

  /**
   * Atomically: if {@code sessionKey} is absent (or attached to {@code previousLease}, a lease this registration held
   * before), puts {@code value} there on {@code lease}; and if {@code activeKey} is non-null and absent (or on
   * {@code previousLease}), puts it there too.
   */
  CompletableFuture<Created> create(String sessionKey, String activeKey, byte[] value, long lease,
      long previousLease);

  /**
   * Create-if-absent of {@code key} on {@code lease} (one compare-and-put: version 0, then put); otherwise reads who
   * holds it, in the same step. Fails (UNAVAILABLE, SESSION_LOST) if the backend cannot do it or the lease is gone.
   */
  CompletableFuture<Claim> claim(String key, byte[] value, long lease);

  /**
   * Deletes {@code key} only if it is attached to {@code lease} (compared atomically with the delete); completes with
   * whether it did.
   */
  CompletableFuture<Boolean> release(String key, long lease);

  /**
   * Watches {@code key} from {@code fromRevision} on: every put and delete at that revision or later reaches
   * {@code watcher}, in revision order, until the handle is closed or {@link KeyWatcher#onEnded} is called. The caller
   * knows the key existed at {@code fromRevision - 1}; a backend without history (in memory) reports what changed
   * since as one event (a delete if the key is absent now, a put if it was put at {@code fromRevision} or later).
   * Closing the handle is idempotent; no call follows it (a call already under way may still arrive).
   */
  AutoCloseable watch(String key, long fromRevision, KeyWatcher watcher);

  /**
   * Re-puts {@code value} at {@code key} on {@code lease} only if the key is attached to {@code lease} now (compared
   * atomically with the put): a leader marking itself Stopping never overwrites a key another server took meanwhile.
   * Completes with whether it did.
   */
  CompletableFuture<Boolean> putIfHeld(String key, byte[] value, long lease);

  /** Re-puts {@code value} at each key on {@code lease}. */
  CompletableFuture<Void> put(List<String> keys, byte[] value, long lease);

  /** Revokes {@code lease}; its keys go at once. */
  CompletableFuture<Void> revoke(long lease);

  /**
   * Keeps {@code lease} alive until the returned handle is closed; calls {@code onLost} at most once, on any thread,
   * when the lease is gone or the keep-alive ended.
   */
  AutoCloseable keepAlive(long lease, long ttlSeconds, Consumer<Throwable> onLost);

  /** Where retries and callbacks run. */
  ScheduledExecutorService scheduler();
}
