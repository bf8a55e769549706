package io.connmgr.discovery;

import java.util.Objects;

/**
 * One change of one session key, as delivered to a {@link SessionListener}. Immutable and thread-safe.
 *
 * <p>Events of one subscription arrive in revision order. Applying an event to a view is idempotent: a replayed
 * event (same key, same revision) changes nothing: subscriptions drop replays, and a consumer that keys its
 * state by {@link #key()} stays correct if it sees one.
 *
 * @param type     what happened
 * @param key      the session's key
 * @param session  the session now ({@link Type#ADDED}, {@link Type#UPDATED}, {@link Type#STOPPING}) or the last one
 *                 known before it went ({@link Type#REMOVED})
 * @param previous the session this key held before an {@link Type#UPDATED} or {@link Type#STOPPING} change, so that
 *                 a consumer can tell a new instance (another address or id) from the same one changing; {@code null}
 *                 for {@link Type#ADDED} and {@link Type#REMOVED}
 * @param revision the backend revision at which the change happened (etcd's mod revision, or the revision of the
 *                 re-list that detected it)
 * @param cause    why a session was removed; {@link Cause#NONE} for other types
 */
public record SessionEvent(Type type, String key, Session session, Session previous, long revision, Cause cause) {

  /** Kinds of change. */
  public enum Type {
    /** A session that the subscriber did not know appeared. */
    ADDED,
    /** A known session changed (address, version, labels, ...) and is not newly stopping. */
    UPDATED,
    /** A known session announced it is stepping down ({@code "Stopping":true}). */
    STOPPING,
    /** The session is gone. */
    REMOVED
  }

  /** Why a session was removed. */
  public enum Cause {
    /** Not a removal. */
    NONE,
    /** The server stepped down: it had announced Stopping, or deleted its own key. */
    DEREGISTERED,
    /** The key went away with its lease without announcing Stopping: the server most likely died. */
    LEASE_EXPIRED,
    /** A key without a lease was deleted. */
    DELETED,
    /** The key now holds a value that is not a valid session. */
    INVALID,
    /** The session was found missing when the view was re-listed (after a compaction or a resync). */
    RESYNC
  }

  /** An event with no previous session ({@link Type#ADDED}, {@link Type#REMOVED}). */
  public SessionEvent(Type type, String key, Session session, long revision, Cause cause) {
    this(type, key, session, null, revision, cause);
  }

  /** Validates. */
  public SessionEvent {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(session, "session");
    Objects.requireNonNull(cause, "cause");
  }

  /** A human-readable reason for a removal: {@code deregistered}, {@code lease expired}, ... */
  public String reason() {
    return switch (cause) {
      case NONE -> type.name().toLowerCase(java.util.Locale.ROOT);
      case DEREGISTERED -> "deregistered";
      case LEASE_EXPIRED -> "lease expired";
      case DELETED -> "deleted";
      case INVALID -> "session value became invalid";
      case RESYNC -> "gone on resync";
    };
  }

  @Override
  public String toString() {
    return type + " " + key + " " + session + " @" + revision + (cause == Cause.NONE ? "" : " (" + reason() + ")");
  }
}
