package io.connmgr.connection;

/**
 * What the {@link ConnectionManager} knows of a server beyond its connection state (document 004's health states).
 * Pickers prefer {@link #HEALTHY} servers and use {@link #DEGRADED} ones only when no healthy one is left.
 */
public enum ServerHealth {
  /** Nothing says the server is unwell. */
  HEALTHY,
  /**
   * The server's grpc.health.v1 {@code Watch} says it is not serving (or has not answered yet), or outlier detection
   * ejected it for failing more than the rest of its role. Still used when no healthy server of its role is left.
   */
  DEGRADED
}
