package io.connmgr.discovery;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The server side of discovery: register this process's session under a lease, keep it alive, step down cleanly.
 * Implemented by {@link EtcdDiscovery} and {@link InMemoryRegistry}.
 *
 * <p><b>Threading.</b> Thread-safe; no method blocks. Futures complete on a registry-owned thread.
 */
public interface Registry extends AutoCloseable {

  /**
   * Allocates a new server id from the counter key ({@code <root>id}) by compare-and-set: the counter is created with
   * 1 if absent, otherwise incremented; the new value is returned. Ids are unique for the life of the counter.
   */
  CompletableFuture<Long> allocateServerId();

  /**
   * Registers {@code session} at {@code <root><role>-<serverId>} under a new lease of {@code ttl}, only if that key is
   * absent, and keeps the lease alive. An exclusive session also takes the role's active key {@code <root><role>} (a
   * copy of its session value, on the same lease) if nobody holds it (see {@link Registration#active()}).
   *
   * <p>An exclusive session <b>campaigns</b> for the active key for as long as it is registered: one that did not get
   * it watches it (with no deletion missed) and, when it is deleted, tries to create it; the first to create it leads
   * the role and is told {@link RegistrationListener#onLeadershipAcquired}. A leader that loses the key (deleted, taken
   * by another lease, its lease lost — reported at once — or {@link Registration#stepDown()}, {@link
   * Registration#closeAsync()}) is told {@link RegistrationListener#onLeadershipLost} and, unless it stepped down or
   * closed, campaigns again. A session marked Stopping does not claim the key. {@link Discovery#leader(String)} reads
   * who leads now.
   *
   * <p>If the lease is lost later (keep-alive ended, lease expired during an outage), the registration re-registers by
   * itself with backoff and tells {@code listener}.
   *
   * @return a future that fails with {@link DiscoveryException.Code#ALREADY_REGISTERED} if another live lease holds
   *         the key, or {@link DiscoveryException.Code#UNAVAILABLE} if the backend is unreachable
   * @throws IllegalArgumentException if {@code ttl} is under one second
   */
  CompletableFuture<Registration> register(Session session, Duration ttl, RegistrationListener listener);

  /** The layout of keys this registry writes. */
  KeyLayout layout();

  @Override
  void close();
}
