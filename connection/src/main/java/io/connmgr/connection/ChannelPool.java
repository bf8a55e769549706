package io.connmgr.connection;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.Scheduler;
import io.grpc.ManagedChannel;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pool of grpc-java channels, one per server instance: a bounded Caffeine cache with idle expiry. A channel is
 * built by the {@link ChannelFactory} outside any lock (never inside Caffeine's compute) and offered to the cache;
 * the loser of a race is shut down. An evicted channel (idle, or beyond the bound) is shut down gracefully, its calls
 * in flight finish.
 *
 * <p><b>Threading.</b> {@link #channel} runs on any thread and never blocks; the listeners run on the control executor.
 */
final class ChannelPool implements Server.Pool {

  private static final Logger log = LoggerFactory.getLogger(ChannelPool.class);

  private final ChannelFactory factory;
  private final Cache<ServerKey, ManagedChannel> cache;
  private final BiConsumer<Server, ManagedChannel> opened;
  /** Channels shut down and perhaps not terminated yet, for {@link #awaitTermination}. */
  private final Set<ManagedChannel> closing = ConcurrentHashMap.newKeySet();

  /**
   * @param opened  told (on the caller's thread) of each channel this pool adds, so that its connectivity is watched
   * @param evicted told (on {@code control}) of each channel closed for idleness or the size bound
   */
  ChannelPool(ConnectionOptions options, ChannelFactory factory, Executor control, ScheduledExecutorService timers,
      BiConsumer<Server, ManagedChannel> opened, BiConsumer<ServerKey, ManagedChannel> evicted) {
    this.factory = factory;
    this.opened = opened;
    this.cache = Caffeine.newBuilder()
        .maximumSize(options.maxChannels())
        .expireAfterAccess(options.idleTimeout())
        .ticker(options.ticker()::getAsLong)
        .executor(control)
        .scheduler(Scheduler.forScheduledExecutorService(timers))
        .removalListener((ServerKey key, ManagedChannel ch, RemovalCause cause) -> {
          if (ch != null && cause.wasEvicted()) {
            log.debug("closing idle channel of {} ({})", key, cause);
            shutdown(ch, false);
            evicted.accept(key, ch);
          }
        })
        .build();
  }

  @Override
  public ManagedChannel channel(Server server) {
    ManagedChannel ch = cache.getIfPresent(server.key);
    if (ch != null) {
      return ch;
    }
    ManagedChannel fresh = factory.newChannel(server.key, server.session);
    server.pooled = true;
    ManagedChannel raced = cache.asMap().putIfAbsent(server.key, fresh);
    if (raced != null) {
      fresh.shutdownNow();
      return raced;
    }
    if (server.state == ServerState.REMOVED) {
      // removed while we built it: the control thread's close may have run before our put
      discard(server.key, fresh);
      return fresh;
    }
    opened.accept(server, fresh);
    return fresh;
  }

  /** The pooled channel of {@code key}, or {@code null}. */
  ManagedChannel ifPresent(ServerKey key) {
    return cache.getIfPresent(key);
  }

  /** Removes the channel of {@code key}, if any, and shuts it down now (its calls are cancelled). */
  void close(ServerKey key) {
    ManagedChannel ch = cache.asMap().remove(key);
    if (ch != null) {
      shutdown(ch, true);
    }
  }

  /** Shuts {@code ch} down now and removes it from the pool if it is still {@code key}'s channel. */
  void discard(ServerKey key, ManagedChannel ch) {
    cache.asMap().remove(key, ch);
    shutdown(ch, true);
  }

  long size() {
    return cache.estimatedSize();
  }

  /** Shuts every channel down now. */
  void closeAll() {
    for (ManagedChannel ch : cache.asMap().values()) {
      shutdown(ch, true);
    }
    cache.invalidateAll();
  }

  private void shutdown(ManagedChannel ch, boolean now) {
    if (closing.size() >= 64) {
      closing.removeIf(ManagedChannel::isTerminated); // amortised: churn cannot grow the set without bound
    }
    closing.add(ch);
    if (now) {
      ch.shutdownNow();
    } else {
      ch.shutdown();
    }
  }

  /** Waits until every channel this pool shut down has terminated; false on timeout. */
  boolean awaitTermination(long deadlineNanos) throws InterruptedException {
    for (ManagedChannel ch : closing) {
      long left = deadlineNanos - System.nanoTime();
      if (left <= 0 || !ch.awaitTermination(left, TimeUnit.NANOSECONDS)) {
        return false;
      }
      closing.remove(ch);
    }
    return true;
  }
}
