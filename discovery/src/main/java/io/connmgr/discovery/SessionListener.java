package io.connmgr.discovery;

/**
 * Receives the events of one {@link Discovery#subscribe subscription}. Methods are no-ops by default, so new ones can
 * be added without breaking implementations; {@link #NONE} does nothing.
 *
 * <p><b>Threading.</b> All methods of one subscription are called one at a time, in order, on the subscription's
 * serial executor (the one given to {@link Discovery#subscribe(String, SessionListener, java.util.concurrent.Executor)},
 * or the discovery's own event thread) and never on a backend's I/O threads. They must not block: a slow listener
 * delays the events after it. A listener that throws is logged and then called again for the next event; nothing is
 * lost.
 */
public abstract class SessionListener {

  /** A listener that ignores everything. */
  public static final SessionListener NONE = new SessionListener() {};

  /** One session changed. */
  public void onEvent(SessionEvent event) {}

  /**
   * The subscriber's view now equals the backend's state at {@code revision}: called once after the initial
   * snapshot's ADDED events, and again after each re-list (compaction, file reload).
   */
  public void onSynced(long revision) {}

  /**
   * The connection to the backend was lost; the subscription retries by itself with backoff and emits what it missed
   * when it is back. Already known sessions stay as they are meanwhile. For etcd, {@code cause} is a
   * {@link DiscoveryException} whose code says whether etcd was unreachable ({@code UNAVAILABLE}, a TLS failure
   * included) or refused the credentials ({@code UNAUTHENTICATED}) or the request ({@code PERMISSION_DENIED}); the
   * subscription retries in every case, since credentials and permissions can be fixed on the server.
   */
  public void onDisconnected(Throwable cause) {}

  /** The connection to the backend is back after {@link #onDisconnected}; missed changes follow (or already came). */
  public void onReconnected() {}
}
