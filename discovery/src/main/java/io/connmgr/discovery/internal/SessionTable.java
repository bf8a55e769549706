package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryException;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionSnapshot;
import io.connmgr.discovery.SessionEvent.Cause;
import io.connmgr.discovery.SessionEvent.Type;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A subscriber's view of the sessions: turns raw key changes into {@link SessionEvent}s. Not thread-safe: confined to
 * one subscription's serial executor.
 *
 * <p>Replays are dropped: a change older than the last applied revision, or a put of a key at a mod revision not newer
 * than the one known, produces nothing. Several keys may change at one revision (one transaction, a prefix delete).
 */
public final class SessionTable {

  private static final Logger log = LoggerFactory.getLogger(SessionTable.class);

  private record Entry(Session session, long modRevision) {}

  private final KeyLayout layout;
  private final RoleFilter roles;
  private final Counters counters;
  private final Map<String, Entry> entries = new HashMap<>();
  /** Keys whose value at the given mod revision was invalid (warned once). */
  private final Map<String, Long> invalid = new HashMap<>();
  private long revision;

  /**
   * @param roles only sessions of these roles; keys of other roles are skipped before their values are decoded
   */
  public SessionTable(KeyLayout layout, RoleFilter roles, Counters counters) {
    this.layout = layout;
    this.roles = roles;
    this.counters = counters;
  }

  /** The valid sessions of {@code listing} (of one role, or all if {@code role} is null), sorted by key. */
  public static SessionSnapshot snapshot(KeyLayout layout, String role, Collection<RawKeyValue> listing, long rev,
      Counters counters) {
    SessionTable table = new SessionTable(layout, RoleFilter.of(role), counters);
    table.resync(listing, rev, new ArrayList<>());
    List<Session> sessions = new ArrayList<>(table.sessions());
    sessions.sort((a, b) -> a.key().compareTo(b.key()));
    return new SessionSnapshot(rev, sessions);
  }

  /** The highest revision applied. */
  public long revision() {
    return revision;
  }

  /** The sessions now known, unordered. */
  public Collection<Session> sessions() {
    List<Session> out = new ArrayList<>(entries.size());
    entries.values().forEach(e -> out.add(e.session));
    return out;
  }

  /** Marks everything up to {@code rev} as seen (a progress notification with no events). */
  public void advance(long rev) {
    revision = Math.max(revision, rev);
  }

  /** A put of {@code kv}; adds the resulting event, if any, to {@code out}. */
  public void put(RawKeyValue kv, List<SessionEvent> out) {
    if (kv.modRevision() < revision) {
      return;
    }
    Entry known = entries.get(kv.key());
    if (known != null && known.modRevision >= kv.modRevision()) {
      return;
    }
    revision = kv.modRevision();
    if (known == null && !roles.acceptsKey(layout, kv.key())) {
      return; // another role's key: not even decoded
    }
    Session session = decode(kv);
    apply(kv.key(), session, kv.modRevision(), kv.modRevision(), known, out);
  }

  /** A delete of {@code key} at {@code rev}; {@code cause} may be {@code null} to infer it from the last session. */
  public void delete(String key, long rev, Cause cause, List<SessionEvent> out) {
    if (rev < revision) {
      return;
    }
    revision = rev;
    invalid.remove(key);
    Entry known = entries.remove(key);
    if (known != null) {
      out.add(new SessionEvent(Type.REMOVED, key, known.session, rev, cause != null ? cause : inferCause(known)));
    }
  }

  /**
   * Replaces the view with a full listing at {@code rev}: REMOVED (cause RESYNC) for keys gone, and the events of
   * putting each listed key, in key order.
   */
  public void resync(Collection<RawKeyValue> listing, long rev, List<SessionEvent> out) {
    resync(listing, rev, Cause.RESYNC, out);
  }

  /** {@link #resync(Collection, long, List)} with another cause for the removals. */
  public void resync(Collection<RawKeyValue> listing, long rev, Cause goneCause, List<SessionEvent> out) {
    Map<String, RawKeyValue> fresh = new TreeMap<>();
    for (RawKeyValue kv : listing) {
      if (roles.acceptsKey(layout, kv.key()) || entries.containsKey(kv.key())) {
        fresh.put(kv.key(), kv);
      }
    }
    List<String> gone = new ArrayList<>();
    for (Iterator<String> it = entries.keySet().iterator(); it.hasNext(); ) {
      String key = it.next();
      if (!fresh.containsKey(key)) {
        gone.add(key);
      }
    }
    gone.sort(null);
    for (String key : gone) {
      Entry e = entries.remove(key);
      out.add(new SessionEvent(Type.REMOVED, key, e.session, rev, goneCause));
    }
    for (RawKeyValue kv : fresh.values()) {
      Entry known = entries.get(kv.key());
      if (known != null && known.modRevision == kv.modRevision()) {
        continue;
      }
      apply(kv.key(), decode(kv), kv.modRevision(), rev, known, out);
    }
    revision = Math.max(revision, rev);
  }

  /** Stores the key at {@code modRevision}; events carry {@code rev} (the re-list's revision when resyncing). */
  private void apply(String key, Session session, long modRevision, long rev, Entry known, List<SessionEvent> out) {
    if (session == null || !roles.accepts(session.role())) {
      if (known != null) {
        entries.remove(key);
        out.add(new SessionEvent(Type.REMOVED, key, known.session, rev, session == null ? Cause.INVALID
            : Cause.DELETED));
      }
      return;
    }
    entries.put(key, new Entry(session, modRevision));
    if (known == null) {
      out.add(new SessionEvent(Type.ADDED, key, session, rev, Cause.NONE));
    } else if (session.stopping() && !known.session.stopping()) {
      out.add(new SessionEvent(Type.STOPPING, key, session, known.session, rev, Cause.NONE));
    } else if (!session.equals(known.session)) {
      out.add(new SessionEvent(Type.UPDATED, key, session, known.session, rev, Cause.NONE));
    }
  }

  private Session decode(RawKeyValue kv) {
    if (layout.isCounter(kv.key()) || !kv.key().startsWith(layout.root())) {
      return null;
    }
    Long invalidAt = invalid.get(kv.key());
    if (invalidAt != null && invalidAt == kv.modRevision()) {
      return null;
    }
    try {
      Session s = SessionCodec.decode(kv.key(), kv.value());
      invalid.remove(kv.key());
      return s.leaseId() == 0 && kv.lease() != 0 ? s.withLeaseId(kv.lease()) : s;
    } catch (DiscoveryException e) {
      invalid.put(kv.key(), kv.modRevision());
      counters.invalidValues.increment();
      log.warn("skipping invalid session at revision {}: {}", kv.modRevision(), e.getMessage());
      return null;
    }
  }

  private static Cause inferCause(Entry known) {
    if (known.session.stopping()) {
      return Cause.DEREGISTERED;
    }
    return known.session.leaseId() != 0 ? Cause.LEASE_EXPIRED : Cause.DELETED;
  }
}
