package io.connmgr.connection;

import java.util.Map;

/**
 * Figures of a {@link ConnectionManager} at one moment (the same as its Micrometer meters). Immutable.
 *
 * @param roles                 per role: servers registered, ready, offline, stopping, healthy, degraded, ejected, and
 *                              ejections so far (document 004's RegisteredNodes, HealthyNodes, DegradedNodes)
 * @param openChannels          channels currently open in the pool
 * @param connectAttempts       connect attempts started
 * @param connectFailures       connect attempts that failed
 * @param retries               attempts that were retries (not the first of an episode)
 * @param failFastCancellations calls in flight failed at once because their server's session went
 * @param reissued              calls of role channels started again on another server
 * @param reissueBudgetExhausted re-issues refused because the role's re-issue budget was spent (the call failed)
 * @param ejections             outlier ejections
 * @param disallowedSessions    sessions ignored because their address is not allowed
 *                              ({@link ConnectionOptions.Builder#allowAddresses}), counted once per key and address
 */
public record ConnectionStats(Map<String, RoleStats> roles, long openChannels, long connectAttempts,
    long connectFailures, long retries, long failFastCancellations, long reissued, long reissueBudgetExhausted,
    long ejections, long disallowedSessions) {

  /** Copies. */
  public ConnectionStats {
    roles = Map.copyOf(roles);
  }

  /**
   * Counts of one role's servers.
   *
   * @param registered servers with a session
   * @param ready      connected
   * @param offline    down or offline
   * @param stopping   stepping down
   * @param healthy    READY and {@link ServerHealth#HEALTHY}
   * @param degraded   READY and {@link ServerHealth#DEGRADED}
   * @param ejected    ejected by outlier detection now
   * @param ejections  ejections of the role's servers since the manager started
   * @param disallowedSessions sessions of the role ignored because their address is not allowed, since the manager
   *                   started (once per key and address)
   */
  public record RoleStats(int registered, int ready, int offline, int stopping, int healthy, int degraded,
      int ejected, long ejections, long disallowedSessions) {

    /** No servers. */
    public static final RoleStats EMPTY = new RoleStats(0, 0, 0, 0, 0, 0, 0, 0, 0);
  }
}
