package io.connmgr.connection;

import io.connmgr.connection.ServerTable.Role;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Publishes the {@link ServerTable}'s changed roles to the call path, once per drained batch of events: each dirty
 * role gets a new immutable {@link RoleView} from its {@link RoleIndex} (the changed servers re-evaluated, then three
 * array copies), and its {@code watchClients} listeners one notification. Roles are found by the call path through a copy-on-write map that only grows (one copy
 * per new role, never per event) and a one-entry cache.
 *
 * <p><b>Threading.</b> {@link #flush} and the watcher methods run on the control thread; {@link #role} and
 * {@link #clients} on any thread, without locks or allocation (but {@code clients}' list). The call path keeps its
 * own one-entry cache in front of {@link #role} ({@link ConnectionManager}).
 */
final class Publisher {

  private final ServerTable table;
  private final Map<String, List<Consumer<List<ServerClient>>>> watchers = new HashMap<>();
  /** Every role ever published; copy-on-write, grows only. */
  private volatile Map<String, Role> published = Map.of();

  Publisher(ServerTable table) {
    this.table = table;
  }

  /** The published role named {@code name}, or {@code null}. Any thread; no allocation. */
  Role role(String name) {
    return published.get(name);
  }

  /** Every published role. Any thread. */
  Iterable<Role> roles() {
    return published.values();
  }

  /** The servers of {@code role} as last published, by id. Any thread. */
  List<ServerClient> clients(String name) {
    Role r = role(name);
    RoleView v = r == null ? null : r.view;
    if (v == null) {
      return List.of();
    }
    Server[] all = v.all();
    List<ServerClient> out = new ArrayList<>(all.length);
    for (Server e : all) {
      out.add(new ServerClient(e.key, e.session, e.state, e.health(), e));
    }
    return Collections.unmodifiableList(out);
  }

  /**
   * Publishes every dirty role and then notifies each one's watchers once, through {@code notifier} (which guards
   * against a throwing listener). Returns the work done, in server visits ({@link RoleIndex#pendingWork}). Control
   * thread.
   */
  int flush(Consumer<Runnable> notifier) {
    List<Role> changed = null;
    Map<String, Role> grown = null;
    int n = 0;
    Role r;
    while ((r = table.pollDirty()) != null) {
      n += 1 + r.index.pendingWork();
      RoleView v = r.index.view(r.active, r.cursor);
      r.publish(v.size() == 0 && r.active == null ? null : v);
      if (!published.containsKey(r.name)) {
        if (grown == null) {
          grown = new HashMap<>(published);
        }
        grown.put(r.name, r);
      }
      if (watchers.containsKey(r.name)) {
        if (changed == null) {
          changed = new ArrayList<>();
        }
        changed.add(r);
      }
    }
    if (grown != null) {
      published = Map.copyOf(grown);
    }
    if (changed != null) {
      for (Role c : changed) {
        List<ServerClient> snapshot = clients(c.name);
        for (Consumer<List<ServerClient>> w : watchers.get(c.name)) {
          notifier.accept(() -> w.accept(snapshot));
        }
      }
    }
    return n;
  }

  /** Adds a watcher of {@code role}. Control thread. */
  void watch(String role, Consumer<List<ServerClient>> watcher) {
    watchers.computeIfAbsent(role, k -> new CopyOnWriteArrayList<>()).add(watcher);
  }

  /** Removes a watcher of {@code role}. Control thread. */
  void unwatch(String role, Consumer<List<ServerClient>> watcher) {
    List<Consumer<List<ServerClient>>> l = watchers.get(role);
    if (l != null) {
      l.remove(watcher);
      if (l.isEmpty()) {
        watchers.remove(role);
      }
    }
  }

  /** Unpublishes everything (the manager closes). Control thread. */
  void clear() {
    for (Role r : published.values()) {
      r.publish(null);
    }
    watchers.clear();
  }
}
