package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryException;

import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.CompactedException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One subscription on etcd: list at R, watch from R+1, and survive every way jetcd ends a watch. All fields are
 * confined to the serial executor; jetcd's callbacks only enqueue. A generation number discards callbacks of
 * watchers that were replaced.
 */
public final class EtcdSubscription extends AbstractSubscription {

  private static final Logger log = LoggerFactory.getLogger(EtcdSubscription.class);

  private final Client client;
  private final ScheduledExecutorService scheduler;
  private final ByteSequence prefix;
  private final Backoff backoff;
  private final Consumer<EtcdSubscription> onClosed;
  private final String name;

  private long generation;
  private Watch.Watcher watcher;
  private boolean listed;
  private boolean compacted;
  private boolean connected = true;
  private int attempt;

  public EtcdSubscription(Client client, ScheduledExecutorService scheduler, KeyLayout layout, RoleFilter roles,
      SessionListener listener, Executor executor, Counters counters, Backoff backoff,
      Consumer<EtcdSubscription> onClosed) {
    super(layout, roles, listener, executor, counters);
    this.client = client;
    this.scheduler = scheduler;
    this.prefix = EtcdSupport.bytes(layout.root());
    this.backoff = backoff;
    this.onClosed = onClosed;
    this.name = layout.root() + roles.describe();
  }

  public void start() {
    serial.execute(this::list);
  }

  private void list() {
    if (isClosed()) {
      return;
    }
    long g = ++generation;
    closeWatcher();
    client.getKVClient().get(prefix, GetOption.builder().isPrefix(true).build())
        .whenCompleteAsync((resp, err) -> onListed(g, resp, err), serial);
  }

  private void onListed(long g, GetResponse resp, Throwable err) {
    if (isClosed() || g != generation) {
      return;
    }
    if (err != null) {
      lostConnection(EtcdSupport.unwrap(err));
      retryLater(this::list);
      return;
    }
    long rev = resp.getHeader().getRevision();
    List<SessionEvent> out = new ArrayList<>();
    table.resync(EtcdSupport.listing(resp.getKvs()), rev, out);
    if (listed) {
      counters.resyncs.increment();
      log.info("subscription {} re-listed at revision {}: {} change(s)", name, rev, out.size());
    }
    listed = true;
    attempt = 0;
    deliver(out);
    markConnected();
    synced(rev);
    watch(rev + 1);
  }

  private void watch(long fromRevision) {
    if (isClosed()) {
      return;
    }
    long g = ++generation;
    closeWatcher();
    WatchOption option = WatchOption.builder()
        .isPrefix(true)
        .withPrevKV(true)
        .withRevision(fromRevision)
        .withProgressNotify(true)
        .withRequireLeader(true)
        .withCreateNotify(true)
        .build();
    watcher = client.getWatchClient().watch(prefix, option, Watch.listener(
        r -> serial.execute(() -> onNext(g, r)),
        t -> serial.execute(() -> onError(g, t)),
        () -> serial.execute(() -> onCompleted(g))));
  }

  private void onNext(long g, WatchResponse response) {
    if (isClosed() || g != generation) {
      return;
    }
    attempt = 0;
    markConnected();
    List<WatchEvent> events = response.getEvents();
    if (log.isTraceEnabled()) {
      log.trace("subscription {}: watch response at {} with {} event(s)", name, response.getHeader().getRevision(),
          events.size());
    }
    if (events.isEmpty()) {
      // Only a progress notification proves every event up to its revision was sent; the "created" response's
      // revision is etcd's current one, with the catch-up events still to come.
      if (response.isProgressNotify()) {
        table.advance(response.getHeader().getRevision());
      }
      return;
    }
    List<SessionEvent> out = new ArrayList<>(events.size());
    for (WatchEvent e : events) {
      RawKeyValue kv = EtcdSupport.raw(e.getKeyValue());
      if (e.getEventType() == WatchEvent.EventType.PUT) {
        table.put(kv, out);
      } else if (e.getEventType() == WatchEvent.EventType.DELETE) {
        table.delete(kv.key(), kv.modRevision(), null, out);
      }
    }
    deliver(out);
  }

  private void onError(long g, Throwable t) {
    if (isClosed() || g != generation) {
      return;
    }
    Throwable cause = EtcdSupport.unwrap(t);
    if (cause instanceof CompactedException) {
      compacted = true; // jetcd closes the watcher next: onCompleted re-lists
      log.info("subscription {}: revision {} was compacted; will re-list", name, table.revision() + 1);
      return;
    }
    // Do not let jetcd resume by itself: it resumes from the revision of the last "created" header, and a watch
    // resumed at exactly the compaction revision silently misses the deletions at that revision. Resume ourselves.
    lostConnection(cause);
    counters.watchRestarts.increment();
    generation++;
    closeWatcher();
    retryLater(this::resume);
  }

  /** The watcher is dead for good (or was closed by jetcd after an error): re-establish it. */
  private void onCompleted(long g) {
    if (isClosed() || g != generation) {
      return;
    }
    watcher = null;
    counters.watchRestarts.increment();
    if (compacted) {
      compacted = false;
      list();
    } else {
      log.debug("subscription {}: watch ended; resuming from revision {}", name, table.revision() + 1);
      retryLater(this::resume);
    }
  }

  /**
   * Resumes from the last applied revision + 1 if etcd still has the history after it, which a count-only read at the
   * last revision proves (it fails once that revision is compacted); otherwise re-lists.
   */
  private void resume() {
    if (isClosed()) {
      return;
    }
    long last = table.revision();
    long g = ++generation;
    closeWatcher();
    GetOption probe = GetOption.builder().isPrefix(true).withRevision(last).withCountOnly(true).build();
    client.getKVClient().get(prefix, probe).whenCompleteAsync((r, err) -> {
      if (isClosed() || g != generation) {
        return;
      }
      if (err == null) {
        watch(last + 1);
        return;
      }
      Throwable cause = EtcdSupport.unwrap(err);
      if (EtcdSupport.isCompaction(cause)) {
        log.info("subscription {}: revision {} was compacted while disconnected; re-listing", name, last);
        list();
      } else {
        lostConnection(cause);
        retryLater(this::resume);
      }
    }, serial);
  }

  private void markConnected() {
    if (!connected) {
      connected = true;
      log.info("subscription {} reconnected to etcd", name);
      reconnected();
    }
  }

  private void lostConnection(Throwable cause) {
    if (connected) {
      connected = false;
      DiscoveryException typed = EtcdSupport.unavailable("watching " + name, cause);
      log.warn("subscription {} lost etcd: {}; retrying with backoff", name, typed.getMessage());
      disconnected(typed);
    } else {
      log.debug("subscription {} still without etcd: {}", name, String.valueOf(cause));
    }
  }

  private void retryLater(Runnable action) {
    long g = ++generation;
    long delay = backoff.delayNanos(attempt++);
    try {
      scheduler.schedule(() -> serial.execute(() -> {
        if (!isClosed() && g == generation) {
          action.run();
        }
      }), delay, TimeUnit.NANOSECONDS);
    } catch (RuntimeException e) {
      log.debug("subscription {}: scheduler is shut down", name);
    }
  }

  private void closeWatcher() {
    Watch.Watcher w = watcher;
    watcher = null;
    if (w != null) {
      try {
        w.close();
      } catch (RuntimeException e) {
        log.debug("closing watcher failed", e);
      }
    }
  }

  @Override
  protected void onClose() {
    generation++;
    closeWatcher();
    onClosed.accept(this);
  }
}
