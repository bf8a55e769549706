package io.connmgr.connection;

import java.time.Duration;

/**
 * Observes a {@link ConnectionManager}: connects, failures, offline and restored servers, removals and fail-fast
 * cancellations, state changes. Methods are no-ops; {@link #NONE} ignores everything. New methods may be added.
 *
 * <p>Called on the manager's control thread, one at a time and never under a lock. Keep them fast and non-blocking:
 * they delay the manager's next event. A listener that throws is logged and ignored.
 */
public abstract class ConnectionListener {

  /** A listener that ignores everything. */
  public static final ConnectionListener NONE = new ConnectionListener() {};

  /** A connect attempt to {@code server} started ({@code attempt} counts from 1). */
  public void connectStarted(ServerKey server, int attempt) {}

  /** {@code server} became READY, {@code took} after the first attempt of this episode started. */
  public void connectSucceeded(ServerKey server, Duration took) {}

  /** A connect attempt failed. */
  public void connectFailed(ServerKey server, int attempt, Throwable cause) {}

  /** Every attempt failed: {@code server} is OFFLINE until its session changes or a reconnect is asked for. */
  public void offline(ServerKey server) {}

  /** {@code server}'s connection was lost while its session is still registered. */
  public void down(ServerKey server) {}

  /** {@code server} is READY again after being DOWN or OFFLINE, or re-registered after a removal. */
  public void restored(ServerKey server) {}

  /** {@code server} announced Stopping: new calls go elsewhere, calls in flight drain. */
  public void stopping(ServerKey server) {}

  /** {@code server}'s session is gone for {@code reason} ("deregistered", "lease expired", ...). */
  public void removed(ServerKey server, String reason) {}

  /** {@code count} calls in flight to {@code server} were failed at once because its session went. */
  public void callsFailedFast(ServerKey server, int count) {}

  /**
   * A call of a role channel to {@code from} ended for {@code cause} before any response reached the application and
   * was started again on {@code to}.
   */
  public void reissued(ServerKey from, ServerKey to, String fullMethodName, io.grpc.Status cause) {}

  /**
   * A call of a role channel to {@code from} could have been re-issued but the role's re-issue budget was spent, so it
   * failed (a failing cluster gets no retry storm).
   */
  public void reissueBudgetExhausted(String role, ServerKey from, String fullMethodName) {}

  /**
   * {@code server}'s health changed ({@link ServerHealth#DEGRADED}: its health service says it is not serving, or it
   * was ejected as an outlier; {@link ServerHealth#HEALTHY} again), for {@code reason}.
   */
  public void healthChanged(ServerKey server, ServerHealth from, ServerHealth to, String reason) {}

  /** Outlier detection ejected {@code server} for {@code duration}, for {@code reason}. */
  public void ejected(ServerKey server, java.time.Duration duration, String reason) {}

  /**
   * The active server of exclusive role {@code role} is now {@code to} ({@code null}: none known), after
   * {@code from} ({@code null}: none). Calls in flight through {@code active(role)} to {@code from} were failed.
   */
  public void activeChanged(String role, ServerKey from, ServerKey to) {}

  /** The manager's state changed. */
  public void stateChanged(ManagerState from, ManagerState to) {}
}
