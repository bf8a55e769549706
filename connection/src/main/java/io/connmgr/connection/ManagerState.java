package io.connmgr.connection;

/** The lifecycle state of a {@link ConnectionManager} (document 000's state codes). */
public enum ManagerState {
  /** Built, or started and waiting for the initial snapshot. */
  INITIALIZING,
  /** The snapshot is applied, discovery is connected and every declared dependency has a READY server. */
  HEALTHY,
  /** Running, but discovery is disconnected or a declared dependency has no READY server. Calls still work. */
  ABNORMAL,
  /** {@link ConnectionManager#close()} was called. */
  STOPPING
}
