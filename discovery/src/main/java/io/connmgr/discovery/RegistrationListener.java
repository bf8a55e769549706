package io.connmgr.discovery;

/**
 * Told when a {@link Registration} loses its session and when it has registered it again, and when an exclusive
 * session acquires or loses the leadership of its role. No-op methods; {@link #NONE}
 * does nothing. Called on the registry's own thread, never under a lock; must not block. A listener that throws is
 * logged and ignored.
 */
public abstract class RegistrationListener {

  /** A listener that ignores everything. */
  public static final RegistrationListener NONE = new RegistrationListener() {};

  /** The session's lease ended (expired, revoked by someone else, keep-alive gave up); re-registration starts now. */
  public void onSessionLost(Session session, Throwable cause) {}

  /** The session was registered again under a new lease. */
  public void onSessionRestored(Session session) {}

  /** This exclusive session now holds its role's active key: it leads the role. */
  public void onLeadershipAcquired(Session session) {}

  /**
   * This session no longer holds its role's active key: it stepped down, its lease was lost (reported at once, before
   * re-registration), or the key was taken or deleted by someone else. {@code reason} says which.
   */
  public void onLeadershipLost(Session session, String reason) {}
}
