package io.connmgr.connection;

import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An immutable view of one role's servers, made by its {@link RoleIndex} once per batch of events and read lock-free
 * by the call path. Lookups by id go through an open-addressing table (linear probing, load at most 1/2): usually one
 * probe, no boxing, no allocation.
 */
final class RoleView {

  static final Server[] EMPTY_TABLE = new Server[1];
  /** A deleted slot of an id table: probes go on past it; it matches no id. */
  static final Server TOMBSTONE = new Server(new ServerKey("", -1, ""), null, null);

  private final Server[] table;
  private final int size;
  private final Server[] healthy;
  private final Server[] ready;
  private final Server[] pickable;
  final Server active;
  private final AtomicInteger next;

  /**
   * A view over arrays the caller hands over and never touches again: {@code table} a power-of-two open-addressing
   * table by {@link #slot} of the server id with load at most 1/2, {@code healthy}, {@code ready} and {@code pickable}
   * in any order.
   */
  RoleView(Server[] table, int size, Server[] healthy, Server[] ready, Server[] pickable, Server active,
      AtomicInteger next) {
    this.table = table;
    this.size = size;
    this.healthy = healthy;
    this.ready = ready;
    this.pickable = pickable;
    this.active = active;
    this.next = next;
  }

  /**
   * The home slot of {@code id} before masking: {@code Long.hashCode} spread as {@code HashMap} does. Server ids are
   * allocated from a counter, so consecutive ids land in consecutive slots.
   */
  static int slot(long id) {
    int h = (int) (id ^ (id >>> 32));
    return h ^ (h >>> 16);
  }

  /** The server with this id, or {@code null}. */
  Server byId(long id) {
    return find(table, id);
  }

  /**
   * This view's id table, for callers that cache it ({@link #find}): a power-of-two array, immutable; its free slots
   * are {@code null} or {@link #TOMBSTONE}.
   */
  Server[] idTable() {
    return table;
  }

  /** The server with this id in {@code table} (an {@link #idTable()}), or {@code null}. */
  static Server find(Server[] table, long id) {
    Server[] t = table;
    int mask = t.length - 1; // index & (length - 1): the JIT drops the bounds checks
    for (int i = slot(id) & mask; ; i = (i + 1) & mask) {
      Server e = t[i];
      if (e == null) {
        return null;
      }
      if (e.serverId == id && e != TOMBSTONE) {
        return e;
      }
    }
  }

  /** How many servers the role has. */
  int size() {
    return size;
  }

  /** Every server of the role, by id (then address): made on each call, for listings and statistics. */
  Server[] all() {
    Server[] out = new Server[size];
    int n = 0;
    for (Server s : table) {
      if (s != null && s != TOMBSTONE) {
        out[n++] = s;
      }
    }
    Arrays.sort(out, (a, b) -> ServerTable.ORDER.compare(a.key, b.key));
    return out;
  }

  int readyCount() {
    return ready.length;
  }

  /** Healthy READY servers now. */
  int healthyCount() {
    return healthy.length;
  }

  /**
   * A healthy READY server if any, else a READY (degraded) one, else one not yet connected; {@code null} if none can
   * take calls. A server in its slow-start window is kept only with its ramp's probability ({@link Server#warm}).
   */
  Server pick(boolean powerOfTwo) {
    Server[] from = healthy.length > 0 ? healthy : ready.length > 0 ? ready : pickable;
    int n = from.length;
    if (n == 0) {
      return null;
    }
    if (n == 1) {
      return from[0];
    }
    Server s = choose(from, n, powerOfTwo);
    Server.Vitals v = s.vitals;
    return v == null || v.warmUntil == 0 ? s : s.warm(from);
  }

  private Server choose(Server[] from, int n, boolean powerOfTwo) {
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

  /**
   * Like {@link #pick}, but never a server {@code call} tried: the next healthy READY one after the shared cursor, else
   * the next READY one, else the next pickable one; {@code null} if every server that can take calls was tried. For re-issues (rare): a scan, no
   * allocation.
   */
  Server pickOther(ReissuingCall<?, ?> call) {
    Server s = scan(healthy, call);
    if (s == null) {
      s = scan(ready, call);
    }
    return s != null ? s : scan(pickable, call);
  }

  private Server scan(Server[] from, ReissuingCall<?, ?> call) {
    int len = from.length;
    if (len == 0) {
      return null;
    }
    int start = next.getPlain();
    if (start >= len || start < 0) {
      start = 0;
    }
    for (int k = 0; k < len; k++) {
      int i = start + k < len ? start + k : start + k - len;
      Server s = from[i];
      if (!call.hasTried(s)) {
        next.setPlain(i + 1);
        return s;
      }
    }
    return null;
  }
}
