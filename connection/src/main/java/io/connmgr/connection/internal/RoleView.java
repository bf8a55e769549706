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
 * call path. Lookups by id are a binary search over a sorted {@code long[]}: no boxing, no allocation.
 */
public final class RoleView {

  private final long[] ids;
  private final ServerEntry[] byId;
  private final ServerEntry[] ready;
  private final ServerEntry[] pickable;
  public final ServerEntry active;
  private final AtomicInteger next;

  public RoleView(Collection<ServerEntry> entries, ServerEntry active, AtomicInteger next) {
    ServerEntry[] sorted = entries.toArray(new ServerEntry[0]);
    Arrays.sort(sorted, (a, b) -> Long.compare(a.key.serverId(), b.key.serverId()));
    this.byId = sorted;
    this.ids = new long[sorted.length];
    List<ServerEntry> r = new ArrayList<>();
    List<ServerEntry> p = new ArrayList<>();
    for (int i = 0; i < sorted.length; i++) {
      ids[i] = sorted[i].key.serverId();
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

  /** The server with this id, or {@code null}. */
  public ServerEntry byId(long id) {
    int i = Arrays.binarySearch(ids, id);
    return i >= 0 ? byId[i] : null;
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
    return from[(next.getAndIncrement() & Integer.MAX_VALUE) % n];
  }
}
