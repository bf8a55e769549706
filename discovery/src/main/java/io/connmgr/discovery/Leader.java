package io.connmgr.discovery;

import java.util.Objects;

/**
 * The leader of an exclusive role, as its active key {@code <root><role>} names it (see {@link Discovery#leader}).
 * Immutable; every field is set.
 *
 * @param role     the role
 * @param serverId the leading server's id
 * @param address  where it listens, {@code host:port}
 * @param revision the backend revision the active key was read at
 * @param session  the session the active key holds
 */
public record Leader(String role, long serverId, String address, long revision, Session session) {

  /** Validates. */
  public Leader {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(address, "address");
    Objects.requireNonNull(session, "session");
  }

  @Override
  public String toString() {
    return role + "-" + serverId + " (" + address + ") at revision " + revision;
  }
}
