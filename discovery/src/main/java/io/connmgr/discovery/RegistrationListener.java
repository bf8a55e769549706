package io.connmgr.discovery;

/**
 * Told when a {@link Registration} loses its session and when it has registered it again. No-op methods; {@link #NONE}
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
}
