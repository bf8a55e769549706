package io.connmgr.connection;

/** The connection state of one server as the {@link ConnectionManager} sees it. */
public enum ServerState {
  /** Known from its session; no connection opened yet (channels open on first use unless the role is a dependency). */
  IDLE,
  /** A connect attempt is in progress. */
  CONNECTING,
  /** Connected. */
  READY,
  /** The connection was lost (for example the process died); reconnecting with the retry policy. Not picked. */
  DOWN,
  /** Every connect attempt failed; waiting for the session to change or an explicit reconnect. Not picked. */
  OFFLINE,
  /** The session announced Stopping: no new calls; calls in flight finish. */
  STOPPING,
  /** The session is gone: calls fail at once. */
  REMOVED
}
