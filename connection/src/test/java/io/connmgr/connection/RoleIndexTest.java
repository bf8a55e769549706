package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.discovery.Session;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The role index against a plain model: random inserts, state changes and removals, ids that collide. */
class RoleIndexTest {

  private static final ServerState[] STATES = ServerState.values();

  private static Server server(long id, int n) {
    ServerKey key = new ServerKey("querynode", id, "10.0.0.1:" + (1000 + n));
    return new Server(key, Session.builder("querynode", key.address()).serverId(id).build(),
        new Server.Context(s -> {
          throw new AssertionError();
        }, Runnable::run, null));
  }

  @Test
  void everyViewMatchesTheModelThroughRandomChanges() {
    for (long seed = 1; seed <= 20; seed++) {
      Random rnd = new Random(seed);
      RoleIndex index = new RoleIndex();
      List<Server> live = new ArrayList<>();
      int made = 0;
      for (int step = 0; step < 3000; step++) {
        int op = rnd.nextInt(10);
        if (op < 4 || live.isEmpty()) {
          // ids from a small range, so that runs of colliding and consecutive ids are common
          Server s = server(rnd.nextInt(64) * (rnd.nextBoolean() ? 1 : 1L << 32), made++);
          s.state = STATES[rnd.nextInt(STATES.length - 1)]; // anything but REMOVED
          live.add(s);
          index.changed(s);
        } else if (op < 7) {
          Server s = live.get(rnd.nextInt(live.size()));
          s.state = STATES[rnd.nextInt(STATES.length - 1)];
          index.changed(s);
        } else {
          Server s = live.remove(rnd.nextInt(live.size()));
          s.state = ServerState.REMOVED;
          index.changed(s);
        }
        if (rnd.nextInt(4) == 0) {
          check(index.view(null, new AtomicInteger()), live, seed, step);
        }
      }
      check(index.view(null, new AtomicInteger()), live, seed, -1);
    }
  }

  private static void check(RoleView v, List<Server> live, long seed, int step) {
    String at = "seed " + seed + " step " + step;
    assertThat(v.size()).as(at).isEqualTo(live.size());
    Set<Server> inTable = new HashSet<>();
    for (Server s : v.idTable()) {
      if (s != null && s != RoleView.TOMBSTONE) {
        inTable.add(s);
      }
    }
    assertThat(inTable).as(at).containsExactlyInAnyOrderElementsOf(live);
    for (Server s : live) {
      Server found = v.byId(s.serverId);
      assertThat(found).as(at).isNotNull();
      assertThat(found.serverId).isEqualTo(s.serverId);
    }
    assertThat(v.byId(999_999)).isNull();
    long ready = live.stream().filter(s -> s.state == ServerState.READY).count();
    assertThat(v.readyCount()).as(at).isEqualTo((int) ready);
    Server[] all = v.all();
    assertThat(all).hasSize(live.size());
    Server[] sorted = all.clone();
    Arrays.sort(sorted, (a, b) -> ServerTable.ORDER.compare(a.key, b.key));
    assertThat(all).containsExactly(sorted);
    if (ready == 0 && live.stream().noneMatch(s -> s.state == ServerState.IDLE || s.state == ServerState.CONNECTING)) {
      assertThat(v.pick(false)).isNull();
    } else {
      Server p = v.pick(false);
      assertThat(p.state).isIn(ready > 0 ? List.of(ServerState.READY)
          : List.of(ServerState.IDLE, ServerState.CONNECTING));
    }
  }
}
