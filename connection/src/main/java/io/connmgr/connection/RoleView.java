package io.connmgr.connection;

import java.util.Collection;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An immutable view of one role's servers, built by the {@link Publisher} once per batch of events and read lock-free
 * by the call path. Lookups by id go through an open-addressing table (linear probing, load at most 1/2): usually one
 * probe, no boxing, no allocation.
 */
final class RoleView {

  static final Server[] EMPTY_TABLE = new Server[1];

  private final Server[] table;
  private final Server[] byId;
  private final Server[] ready;
  private final Server[] pickable;
  final Server active;
  private final AtomicInteger next;

  /** A view of {@code servers}, which come in id order (the role's tree), built in one pass without sorting. */
  RoleView(Collection<Server> servers, Server active, AtomicInteger next) {
    int n = servers.size();
    this.byId = new Server[n];
    int capacity = Integer.highestOneBit(Math.max(1, n) * 2) * 2; // a power of two >= 2n
    this.table = new Server[capacity];
    Server[] r = new Server[n];
    Server[] p = new Server[n];
    int nr = 0;
    int np = 0;
    int i = 0;
    for (Server s : servers) {
      byId[i++] = s;
      int slot = slot(s.serverId) & (capacity - 1);
      while (table[slot] != null) {
        slot = (slot + 1) & (capacity - 1);
      }
      table[slot] = s;
      ServerState st = s.state;
      if (st == ServerState.READY) {
        r[nr++] = s;
      }
      if (st == ServerState.READY || st == ServerState.IDLE || st == ServerState.CONNECTING) {
        p[np++] = s;
      }
    }
    this.ready = nr == n ? r : java.util.Arrays.copyOf(r, nr);
    this.pickable = np == n ? p : java.util.Arrays.copyOf(p, np);
    this.active = active;
    this.next = next;
  }

  /**
   * The home slot of {@code id} before masking: {@code Long.hashCode} spread as {@code HashMap} does. Server ids are
   * allocated from a counter, so consecutive ids land in consecutive slots.
   */
  private static int slot(long id) {
    int h = (int) (id ^ (id >>> 32));
    return h ^ (h >>> 16);
  }

  /** The server with this id, or {@code null}. */
  Server byId(long id) {
    return find(table, id);
  }

  /** This view's id table, for callers that cache it ({@link #find}): a power-of-two array, immutable. */
  Server[] idTable() {
    return table;
  }

  /** The server with this id in {@code table} (an {@link #idTable()}), or {@code null}. */
  static Server find(Server[] table, long id) {
    Server[] t = table;
    int mask = t.length - 1; // index & (length - 1): the JIT drops the bounds checks
    for (int i = slot(id) & mask; ; i = (i + 1) & mask) {
      Server e = t[i];
      if (e == null || e.serverId == id) {
        return e;
      }
    }
  }

  /** Every server of the role, by id. */
  Server[] all() {
    return byId;
  }

  int readyCount() {
    return ready.length;
  }

  /** A READY server if any, else one not yet connected; {@code null} if none can take calls. */
  Server pick(boolean powerOfTwo) {
    Server[] from = ready.length > 0 ? ready : pickable;
    int n = from.length;
    if (n == 0) {
      return null;
    }
    if (n == 1) {
      return from[0];
    }
    if (powerOfTwo) {
      ThreadLocalRandom rnd = ThreadLocalRandom.current();
      Server a = from[rnd.nextInt(n)];
      Server b = from[rnd.nextInt(n)];
      return a.size() <= b.size() ? a : b;
    }
    // plain (racy) reads and writes of the shared cursor: a lost update only repeats a server once, and it spares
    // every call an atomic read-modify-write and a division
    int i = next.getPlain();
    if (i >= n || i < 0) {
      i = 0;
    }
    next.setPlain(i + 1);
    return from[i];
  }
}
