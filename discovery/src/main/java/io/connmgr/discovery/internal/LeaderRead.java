package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryException;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Leader;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;

/**
 * The rules of {@code Discovery.leader(role)}, shared by every backend: what the active key must hold and what each
 * failure says. Stateless; the backend does the reads (the active key, then the named server's own key at the same
 * revision).
 */
public final class LeaderRead {

  private LeaderRead() {}

  /**
   * The session held by the active key of {@code role}, read at {@code revision}.
   *
   * @param active the active key as read, or {@code null} if absent
   * @throws DiscoveryException {@link DiscoveryException.Code#NO_LEADER} if absent,
   *     {@link DiscoveryException.Code#LEADER_MALFORMED} if its value is not a valid session of {@code role}
   */
  public static Session activeSession(KeyLayout layout, String role, RawKeyValue active, long revision) {
    String activeKey = layout.activeKey(role);
    if (active == null) {
      throw new DiscoveryException(DiscoveryException.Code.NO_LEADER,
          "role '" + role + "' has no leader: no active key '" + activeKey + "' at revision " + revision);
    }
    Session s;
    try {
      s = SessionCodec.decode(activeKey, active.value());
    } catch (DiscoveryException e) {
      throw new DiscoveryException(DiscoveryException.Code.LEADER_MALFORMED, "active key '" + activeKey
          + "' of role '" + role + "' does not hold a valid session at revision " + revision + ": "
          + e.getMessage(), e);
    }
    if (!s.role().equals(role)) {
      throw new DiscoveryException(DiscoveryException.Code.LEADER_MALFORMED, "active key '" + activeKey
          + "' of role '" + role + "' holds a session of role '" + s.role() + "' (" + s.name() + ") at revision "
          + revision);
    }
    return s.leaseId() == 0 && active.lease() != 0 ? s.withLeaseId(active.lease()) : s;
  }

  /** The key that must exist for {@code active} to lead: {@code <root><role>-<id>}. */
  public static String ownKey(KeyLayout layout, Session active) {
    return layout.sessionKey(active.role(), active.serverId());
  }

  /**
   * The leader, once the server's own key was read at the same {@code revision}.
   *
   * @throws DiscoveryException {@link DiscoveryException.Code#LEADER_GONE} if {@code ownKeyPresent} is false
   */
  public static Leader leader(KeyLayout layout, Session active, long revision, boolean ownKeyPresent) {
    String own = ownKey(layout, active);
    if (!ownKeyPresent) {
      throw new DiscoveryException(DiscoveryException.Code.LEADER_GONE, "active key '"
          + layout.activeKey(active.role()) + "' names " + active.name() + " (" + active.address()
          + "), but its session key '" + own + "' is gone at revision " + revision);
    }
    return new Leader(active.role(), active.serverId(), active.address(), revision, active);
  }
}
