package io.connmgr.connection;

import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionEvent;
import io.grpc.Status;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The servers the manager knows, by role, and the pure state transitions that session events cause: which instance a
 * key names, when an instance is created or goes (the last key naming it removed or re-pointed), stopping, a new
 * chance for an offline server, which server an exclusive role's active key names. Each event costs O(1) (hash
 * lookups; the role's {@link RoleIndex} is updated at publication for the servers that changed) and nothing in the
 * number of other roles or sessions; roles whose servers or states changed are queued for the {@link Publisher}.
 *
 * <p>It is also where the {@link AddressAllowList} applies, for the manager and the {@code session} resolver alike: a
 * session whose address is not allowed is ignored as if its key did not exist (a key that moves there releases the
 * instance it named, as a deletion would), with one WARN per key and address and a {@link Sink#disallowed} each time.
 *
 * <p>Side effects (failing calls, closing channels, connecting, listeners) are the {@link Sink}'s; the table only sets
 * states and refusals, so it is unit-tested without threads. <b>Threading:</b> confined to the control thread.
 */
final class ServerTable {

  private static final Logger log = LoggerFactory.getLogger(ServerTable.class);

  /** What the table asks of the engine; called synchronously, in order, from {@link #apply}. */
  interface Sink {
    /** A new instance is known (state IDLE). */
    void created(Server server);

    /** {@code server} is gone (state REMOVED, refusal set): fail its calls, close its channel. */
    void removed(Server server, String reason);

    /** {@code server} announced Stopping (state STOPPING, refusal set): no new calls, its calls drain. */
    void stopping(Server server);

    /** {@code server} was OFFLINE or STOPPING and its session changed or came back (state IDLE): connect again. */
    void renewed(Server server);

    /** The active key of {@code role} names another server now ({@code null}: none). */
    default void activeChanged(Role role, Server from, Server to) {}

    /** Session key {@code key} names {@code session}, whose address is not allowed: ignored (once per address). */
    default void disallowed(String key, Session session) {}
  }

  /** Makes the server object for a new instance. */
  interface Factory {
    Server create(ServerKey key, Session session);
  }

  /** Servers of a role in id order, then address: the order of {@link ConnectionManager#clients}. */
  static final Comparator<ServerKey> ORDER = (a, b) -> {
    int c = Long.compare(a.serverId(), b.serverId());
    return c != 0 ? c : a.address().compareTo(b.address());
  };

  /** One role: its servers (control thread) and its published view (any thread). */
  static final class Role {
    final String name;
    final Map<ServerKey, Server> servers = new HashMap<>();
    final RoleIndex index = new RoleIndex();
    final AtomicInteger cursor = new AtomicInteger();
    /** The server the role's active key names, if any. */
    Server active;
    /** A read of the role's active key is under way (a standby answered). */
    boolean refreshingActive;
    boolean dirty;
    /** Published by the {@link Publisher}; read by the call path. */
    volatile RoleView view;
    /** {@code view.idTable()}, or an empty table: one load less for {@link ConnectionManager#channel}. */
    volatile Server[] table = RoleView.EMPTY_TABLE;

    Role(String name) {
      this.name = name;
    }

    void publish(RoleView v) {
      view = v;
      table = v == null ? RoleView.EMPTY_TABLE : v.idTable();
    }
  }

  private final KeyLayout layout;
  private final Factory factory;
  private final AddressAllowList allow;
  /** What {@link #allow} was called in logs: {@code allowAddresses} or {@code connmgr.allow}. */
  private final String allowOption;
  private final Map<String, Role> roles = new HashMap<>();
  private final ArrayDeque<Role> dirty = new ArrayDeque<>();
  /** Keys whose session is ignored now, with the address it has: each is warned about once per address. */
  private final Map<String, String> disallowedKeys = new HashMap<>();
  private int size;

  ServerTable(KeyLayout layout, Factory factory) {
    this(layout, factory, AddressAllowList.ALL, "allowAddresses");
  }

  ServerTable(KeyLayout layout, Factory factory, AddressAllowList allow, String allowOption) {
    this.layout = layout;
    this.factory = factory;
    this.allow = allow;
    this.allowOption = allowOption;
  }

  /** The role named {@code name}, created empty if unknown. */
  Role role(String name) {
    Role r = roles.get(name);
    if (r == null) {
      r = new Role(name);
      roles.put(name, r);
    }
    return r;
  }

  /** The role, or {@code null}. */
  Role find(String name) {
    return roles.get(name);
  }

  Collection<Role> roles() {
    return roles.values();
  }

  /** Live server instances. */
  int size() {
    return size;
  }

  /** Queues {@code role} for publication (once until it is published). */
  void markDirty(Role role) {
    if (!role.dirty) {
      role.dirty = true;
      dirty.add(role);
    }
  }

  /** Queues {@code role} for publication with {@code server}'s membership re-evaluated. */
  void markDirty(Role role, Server server) {
    role.index.changed(server);
    markDirty(role);
  }

  boolean hasDirty() {
    return !dirty.isEmpty();
  }

  /** The next role to publish, or {@code null}; clears its mark. */
  Role pollDirty() {
    Role r = dirty.poll();
    if (r != null) {
      r.dirty = false;
    }
    return r;
  }

  /** Applies one event of a tracked role. */
  void apply(SessionEvent ev, Sink sink) {
    Session s = ev.session();
    if (!allow.allowsAll()) {
      if (ev.type() == SessionEvent.Type.REMOVED) {
        disallowedKeys.remove(ev.key()); // a disallowed session never made an instance: nothing to release
      } else if (!allow.allowsAddress(s.address())) {
        if (!s.address().equals(disallowedKeys.put(ev.key(), s.address()))) {
          log.warn("session {} ({}) ignored: its address {} is not allowed by {}", ev.key(), s.name(), s.address(),
              allowOption);
          sink.disallowed(ev.key(), s);
        }
        Session prev = ev.previous();
        if (prev != null && allow.allowsAddress(prev.address())) {
          // the key moved off the list: the instance it named loses it, as if the key were deleted
          Role prevRole = role(prev.role());
          Server old = prevRole.servers.get(ServerKey.of(prev));
          if (old != null) {
            release(prevRole, old, layout.isActiveKey(ev.key(), prev),
                "moved to " + s.address() + ", which is not an allowed address", sink);
          }
        }
        return;
      } else {
        disallowedKeys.remove(ev.key()); // (a previous session at a disallowed address made no instance)
      }
    }
    Role role = role(s.role());
    boolean activeKey = layout.isActiveKey(ev.key(), s);
    if (ev.type() == SessionEvent.Type.REMOVED) {
      Server e = role.servers.get(ServerKey.of(s));
      if (e != null) {
        release(role, e, activeKey, ev.reason(), sink);
      }
      return;
    }
    ServerKey sk = ServerKey.of(s);
    Session prev = ev.previous();
    boolean sameInstance = false;
    if (prev != null) {
      ServerKey pk = ServerKey.of(prev);
      sameInstance = pk.equals(sk);
      if (!sameInstance) {
        // the key now names another instance (new address or id): the old one loses this key
        Role prevRole = role(prev.role());
        Server old = prevRole.servers.get(pk);
        if (old != null) {
          release(prevRole, old, layout.isActiveKey(ev.key(), prev), "re-registered as " + sk, sink);
        }
      }
    }
    Server e = role.servers.get(sk);
    boolean created = e == null;
    if (created) {
      e = factory.create(sk, s);
      role.servers.put(sk, e);
      size++;
      markDirty(role, e);
    }
    if (!sameInstance || created) {
      e.refs++;
    }
    if (!activeKey || e.refs == 1) {
      e.session = s; // the server's own key wins over the active key's copy
    }
    if (activeKey && role.active != e) {
      Server old = role.active;
      role.active = e;
      markDirty(role);
      sink.activeChanged(role, old, e);
    }
    if (s.stopping()) {
      if (e.state != ServerState.STOPPING) {
        e.state = ServerState.STOPPING;
        e.refuse(Status.UNAVAILABLE.withDescription(sk + " is stopping"));
        markDirty(role, e);
        sink.stopping(e);
      }
    } else if (e.state == ServerState.OFFLINE || e.state == ServerState.STOPPING) {
      e.refuse(null);
      e.state = ServerState.IDLE;
      markDirty(role, e);
      sink.renewed(e);
    }
    if (created) {
      sink.created(e);
    }
  }

  /** One key less names {@code e}; the last one gone removes it. */
  private void release(Role role, Server e, boolean activeKey, String reason, Sink sink) {
    if (activeKey && role.active == e) {
      role.active = null;
      markDirty(role);
      sink.activeChanged(role, e, null);
    }
    if (--e.refs > 0) {
      return;
    }
    role.servers.remove(e.key);
    size--;
    e.state = ServerState.REMOVED;
    e.refuse(Status.UNAVAILABLE.withDescription(e.key + " " + reason));
    markDirty(role, e);
    sink.removed(e, reason);
  }

  /** Forgets everything (the manager closes): every server REMOVED and refusing with {@code status}. */
  void clear(Status status) {
    for (Role r : roles.values()) {
      for (Server e : r.servers.values()) {
        e.state = ServerState.REMOVED;
        e.refuse(status);
      }
      r.servers.clear();
      r.active = null;
      r.publish(null);
    }
    size = 0;
    dirty.clear();
    disallowedKeys.clear();
  }
}
