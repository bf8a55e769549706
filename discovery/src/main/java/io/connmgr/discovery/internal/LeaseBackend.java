package io.connmgr.discovery.internal;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/** What a {@link SessionRegistration} needs from a backend. Implementations never block. */
public interface LeaseBackend {

  /** Outcome of {@link #create}. */
  enum CreateResult { CONFLICT, CREATED, CREATED_ACTIVE }

  /** Grants a lease of {@code ttlSeconds}; completes with its id. */
  CompletableFuture<Long> grant(long ttlSeconds);

  /**
   * Atomically: if {@code sessionKey} is absent (or attached to {@code previousLease}, a lease this registration held
   * before), puts {@code value} there on {@code lease}; and if {@code activeKey} is non-null and absent (or on
   * {@code previousLease}), puts it there too.
   */
  CompletableFuture<CreateResult> create(String sessionKey, String activeKey, byte[] value, long lease,
      long previousLease);

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
