package io.connmgr.discovery;

/**
 * The one exception type of connmgr's discovery: a {@link Code} says what went wrong, the message says where.
 * Unchecked; usually seen as the cause of a failed {@link java.util.concurrent.CompletableFuture}.
 */
public class DiscoveryException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** What went wrong. */
  public enum Code {
    /** A stored value is not a valid session. */
    INVALID_SESSION,
    /** The backend (etcd) could not be reached or refused the request. */
    UNAVAILABLE,
    /** The session key is already held by another live registration. */
    ALREADY_REGISTERED,
    /** The registration's lease ended and the session is gone. */
    SESSION_LOST,
    /** The discovery or registry was closed. */
    CLOSED,
    /** The static cluster file cannot be read or parsed. */
    INVALID_FILE,
    /** Compare-and-set contention that did not resolve (id allocation). */
    CONFLICT,
    /** An exclusive role has no active key ({@code <root><role>}): no server leads it now. Retriable. */
    NO_LEADER,
    /** The active key of an exclusive role holds a value that is not a valid session. Retriable. */
    LEADER_MALFORMED,
    /** The active key names a server whose own session key is gone. Retriable. */
    LEADER_GONE,
    /**
     * etcd refused the credentials: a wrong user name or password, or authentication is enabled and none were given.
     * Not retriable without a configuration change.
     */
    UNAUTHENTICATED,
    /** etcd authenticated the user but its roles do not allow the request on that key. */
    PERMISSION_DENIED
  }

  private final Code code;

  /** An exception with a code and a message. */
  public DiscoveryException(Code code, String message) {
    super(message);
    this.code = code;
  }

  /** An exception with a code, a message and a cause. */
  public DiscoveryException(Code code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  /** What went wrong. */
  public Code code() {
    return code;
  }

  @Override
  public String getMessage() {
    return code + ": " + super.getMessage();
  }
}
