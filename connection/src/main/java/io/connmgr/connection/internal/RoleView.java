package io.connmgr.connection.internal;

import io.connmgr.connection.ServerState;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An immutable view of one role's servers, rebuilt on the control thread at each change and read lock-free by the
 * call path. Lookups by id go through an open-addressing table of entries (linear probing, load at most 1/2): usually
 * one probe, no boxing, no allocation, none of a binary search's unpredictable branches.
 */
public final class RoleView {

  private final ServerEntry[] table;
  private final ServerEntry[] byId;
  private final ServerEntry[] ready;
  private final ServerEntry[] pickable;
  public final ServerEntry active;
  private final AtomicInteger next;

  public RoleView(Collection<ServerEntry> entries, ServerEntry active, AtomicInteger next) {
    ServerEntry[] sorted = entries.toArray(new ServerEntry[0]);
    Arrays.sort(sorted, (a, b) -> Long.compare(a.key.serverId(), b.key.serverId()));
    this.byId = sorted;
    int capacity = Integer.highestOneBit(Math.max(1, sorted.length) * 2) * 2; // a power of two >= 2n
    this.table = new ServerEntry[capacity];
    List<ServerEntry> r = new ArrayList<>();
    List<ServerEntry> p = new ArrayList<>();
    for (int i = 0; i < sorted.length; i++) {
      long id = sorted[i].key.serverId();
      int slot = slot(id) & (capacity - 1);
      while (table[slot] != null) {
        slot = (slot + 1) & (capacity - 1);
      }
      table[slot] = sorted[i];
      ServerState s = sorted[i].state;
      if (s == ServerState.READY) {
        r.add(sorted[i]);
      }
      if (s == ServerState.READY || s == ServerState.IDLE || s == ServerState.CONNECTING) {
        p.add(sorted[i]);
      }
    }
    this.ready = r.toArray(new ServerEntry[0]);
    this.pickable = p.toArray(new ServerEntry[0]);
    this.active = active;
    this.next = next;
  }

  /**
   * The home slot of {@code id} before masking: {@code Long.hashCode} spread as {@code HashMap} does. Server ids are
   * allocated from a counter, so consecutive ids land in consecutive slots (no collisions at all); a pattern that
   * collides here collides as much in {@code HashMap} and {@code ConcurrentHashMap}.
   */
  private static int slot(long id) {
    int h = (int) (id ^ (id >>> 32));
    return h ^ (h >>> 16);
  }

  /** The server with this id, or {@code null}. */
  public ServerEntry byId(long id) {
    return find(table, id);
  }

  /**
   * This view's id table, for callers that cache it ({@link #find}): a power-of-two array, immutable once published.
   */
  public ServerEntry[] idTable() {
    return table;
  }

  /** The server with this id in {@code table} (an {@link #idTable()}), or {@code null}. */
  public static ServerEntry find(ServerEntry[] table, long id) {
    ServerEntry[] t = table;
    int mask = t.length - 1; // index & (length - 1): the JIT drops the bounds checks
    for (int i = slot(id) & mask; ; i = (i + 1) & mask) {
      ServerEntry e = t[i];
      if (e == null || e.serverId == id) {
        return e;
      }
    }
  }

  /** Every server of the role, by id. */
  public ServerEntry[] all() {
    return byId;
  }

  public int readyCount() {
    return ready.length;
  }

  /** A READY server if any, else one not yet connected; {@code null} if none can take calls. */
  public ServerEntry pick(boolean powerOfTwo) {
    ServerEntry[] from = ready.length > 0 ? ready : pickable;
    int n = from.length;
    if (n == 0) {
      return null;
    }
    if (n == 1) {
      return from[0];
    }
    if (powerOfTwo) {
      ThreadLocalRandom rnd = ThreadLocalRandom.current();
      ServerEntry a = from[rnd.nextInt(n)];
      ServerEntry b = from[rnd.nextInt(n)];
      return a.calls.size() <= b.calls.size() ? a : b;
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
