package io.connmgr.discovery.internal;

import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import java.util.List;
import java.util.concurrent.Executor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * State shared by every backend's subscription: the serial executor that owns the {@link SessionTable}, and guarded
 * delivery to the listener. Everything but {@link #close()} and {@link #revision()} runs on {@link #serial}.
 */
public abstract class AbstractSubscription implements Subscription {

  private static final Logger log = LoggerFactory.getLogger(AbstractSubscription.class);

  protected final SerialExecutor serial;
  protected final SessionTable table;
  protected final Counters counters;
  private final SessionListener listener;
  private volatile boolean closed;
  private volatile long delivered;

  protected AbstractSubscription(KeyLayout layout, RoleFilter roles, SessionListener listener, Executor executor,
      Counters counters) {
    this.serial = new SerialExecutor(executor);
    this.table = new SessionTable(layout, roles, counters);
    this.listener = listener;
    this.counters = counters;
  }

  @Override
  public long revision() {
    return delivered;
  }

  protected boolean isClosed() {
    return closed;
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      serial.execute(this::onClose);
    }
  }

  /** Releases backend resources; runs once on the serial executor after {@link #close()}. */
  protected abstract void onClose();

  /** Delivers events, in order; call on the serial executor. */
  protected void deliver(List<SessionEvent> events) {
    for (SessionEvent e : events) {
      if (closed) {
        return;
      }
      delivered = Math.max(delivered, e.revision());
      counters.eventsDelivered.increment();
      try {
        listener.onEvent(e);
      } catch (Throwable t) {
        counters.listenerErrors.increment();
        log.warn("session listener {} threw on {}; ignored", listener, e, t);
      }
    }
  }

  /** Tells the listener the view equals the backend at {@code revision}; call on the serial executor. */
  protected void synced(long revision) {
    if (closed) {
      return;
    }
    delivered = Math.max(delivered, revision);
    try {
      listener.onSynced(revision);
    } catch (Throwable t) {
      counters.listenerErrors.increment();
      log.warn("session listener {} threw in onSynced; ignored", listener, t);
    }
  }

  /** Tells the listener the backend is back; call on the serial executor. */
  protected void reconnected() {
    if (closed) {
      return;
    }
    try {
      listener.onReconnected();
    } catch (Throwable t) {
      counters.listenerErrors.increment();
      log.warn("session listener {} threw in onReconnected; ignored", listener, t);
    }
  }

  /** Tells the listener the backend is unreachable; call on the serial executor. */
  protected void disconnected(Throwable cause) {
    if (closed) {
      return;
    }
    try {
      listener.onDisconnected(cause);
    } catch (Throwable t) {
      counters.listenerErrors.increment();
      log.warn("session listener {} threw in onDisconnected; ignored", listener, t);
    }
  }
}
