package io.connmgr.discovery;

import java.util.concurrent.CompletableFuture;

/**
 * A live registration of one session. Thread-safe; no method blocks.
 *
 * <p>Step down with {@link #markStopping()} (clients stop sending new calls and let calls in flight finish), then
 * {@link #closeAsync()} (which marks Stopping first if not done, then revokes the lease so the key goes at once).
 */
public interface Registration extends AutoCloseable {

  /** The session as registered now (its key, lease and stopping flag). */
  Session session();

  /** Whether this exclusive session also holds its role's active key (it leads the role). */
  boolean active();

  /**
   * Gives up the leadership of the role: deletes the active key if this session holds it, and stops campaigning for
   * it (the session itself stays registered). Another server's campaign then takes the key. Completes when the key is
   * deleted (at once when not held). Idempotent.
   */
  CompletableFuture<Void> stepDown();

  /** Re-puts the session with {@code "Stopping":true} on the same lease. */
  CompletableFuture<Void> markStopping();

  /** Marks Stopping (if not yet), stops the keep-alive and revokes the lease. Idempotent. */
  CompletableFuture<Void> closeAsync();

  /** Starts {@link #closeAsync()} and returns without waiting. */
  @Override
  default void close() {
    closeAsync();
  }
}
