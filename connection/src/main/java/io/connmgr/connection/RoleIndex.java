package io.connmgr.connection;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The control thread's mutable mirror of one role's published view: an open-addressing table of its servers by id
 * (linear probing on the id itself, so that ids from a counter take one probe; at most half full counting deleted
 * slots; a deletion leaves a {@link RoleView#TOMBSTONE}, reused by the next insertion on its path, so that neither
 * costs a walk along a run of consecutive ids), and the lists of READY and of pickable servers
 * (swap-remove, each server knowing its index), and of READY servers that are healthy (preferred by the pickers). A server whose state changed is queued with {@link #changed}; at
 * publication {@link #view} re-evaluates only those, then copies the three arrays ({@code System.arraycopy}: a
 * role of 100,000 servers republishes in tens of µs, not by walking its servers).
 *
 * <p><b>Threading.</b> Control thread only; the views it makes are immutable.
 */
final class RoleIndex {

  private static final int MIN_CAPACITY = 4;

  private Server[] table = new Server[MIN_CAPACITY];
  private int size;
  private int tombstones;
  private final PickList healthy = new PickList(PickList.HEALTHY);
  private final PickList ready = new PickList(PickList.READY);
  private final PickList pickable = new PickList(PickList.PICKABLE);
  private final List<Server> changed = new ArrayList<>();

  /** Queues {@code s} for re-evaluation at the next {@link #view}. */
  void changed(Server s) {
    if (!s.queued) {
      s.queued = true;
      changed.add(s);
    }
  }

  /** Servers in the table. */
  int size() {
    return size;
  }

  /** The work of the next {@link #view}, in server visits: the queued servers plus the copies (cheap per slot). */
  int pendingWork() {
    return changed.size() + (table.length + healthy.size() + ready.size() + pickable.size()) / 32;
  }

  /** Applies the queued changes and returns an immutable view of the role. */
  RoleView view(Server active, AtomicInteger cursor) {
    for (int i = 0; i < changed.size(); i++) {
      Server s = changed.get(i);
      s.queued = false;
      ServerState st = s.state;
      boolean live = st != ServerState.REMOVED;
      if (live && !s.indexed) {
        insert(s);
      } else if (!live && s.indexed) {
        delete(s);
      }
      healthy.set(s, live && s.preferred());
      ready.set(s, live && st == ServerState.READY);
      pickable.set(s, live && (st == ServerState.READY || st == ServerState.IDLE || st == ServerState.CONNECTING));
    }
    changed.clear();
    return new RoleView(Arrays.copyOf(table, table.length), size, healthy.copy(), ready.copy(), pickable.copy(), active,
        cursor);
  }

  // ---------------------------------------------------------------- the id table

  private void insert(Server s) {
    if ((size + tombstones + 1) * 2 > table.length) {
      rehash((size + 1) * 4 > table.length ? table.length * 2 : table.length); // grow, or only sweep tombstones
    }
    Server[] t = table;
    int mask = t.length - 1;
    int i = RoleView.slot(s.serverId) & mask;
    while (t[i] != null && t[i] != RoleView.TOMBSTONE) {
      i = (i + 1) & mask;
    }
    if (t[i] == RoleView.TOMBSTONE) {
      tombstones--;
    }
    t[i] = s;
    s.indexed = true;
    size++;
  }

  private static void place(Server[] t, Server s) {
    int mask = t.length - 1;
    int i = RoleView.slot(s.serverId) & mask;
    while (t[i] != null) {
      i = (i + 1) & mask;
    }
    t[i] = s;
  }

  private void delete(Server s) {
    Server[] t = table;
    int mask = t.length - 1;
    int i = RoleView.slot(s.serverId) & mask;
    while (t[i] != s) {
      if (t[i] == null) {
        return;
      }
      i = (i + 1) & mask;
    }
    t[i] = RoleView.TOMBSTONE;
    tombstones++;
    s.indexed = false;
    size--;
    if (table.length > MIN_CAPACITY && size * 8 < table.length) {
      rehash(Math.max(MIN_CAPACITY, table.length / 2));
    }
  }

  private void rehash(int capacity) {
    Server[] fresh = new Server[capacity];
    for (Server s : table) {
      if (s != null && s != RoleView.TOMBSTONE) {
        place(fresh, s);
      }
    }
    table = fresh;
    tombstones = 0;
  }

  // ---------------------------------------------------------------- the pick lists

  /** The healthy READY, the READY or the pickable servers, in any order; each server keeps its index in the list. */
  private static final class PickList {
    static final int HEALTHY = 0;
    static final int READY = 1;
    static final int PICKABLE = 2;
    private final int kind;
    private Server[] items = new Server[4];
    private int count;

    PickList(int kind) {
      this.kind = kind;
    }

    private int indexOf(Server s) {
      return switch (kind) {
        case HEALTHY -> s.healthyIndex;
        case READY -> s.readyIndex;
        default -> s.pickableIndex;
      };
    }

    private void setIndex(Server s, int i) {
      switch (kind) {
        case HEALTHY -> s.healthyIndex = i;
        case READY -> s.readyIndex = i;
        default -> s.pickableIndex = i;
      }
    }

    int size() {
      return count;
    }

    /** Adds or removes {@code s} (swap-remove); shrinks when a quarter full. */
    void set(Server s, boolean member) {
      if (member == (indexOf(s) >= 0)) {
        return;
      }
      if (member) {
        if (count == items.length) {
          items = Arrays.copyOf(items, items.length * 2);
        }
        setIndex(s, count);
        items[count++] = s;
      } else {
        int i = indexOf(s);
        Server last = items[--count];
        items[i] = last;
        setIndex(last, i);
        items[count] = null;
        setIndex(s, -1);
        if (items.length > 16 && count * 4 < items.length) {
          items = Arrays.copyOf(items, items.length / 2);
        }
      }
    }

    Server[] copy() {
      return Arrays.copyOf(items, count);
    }
  }
}
