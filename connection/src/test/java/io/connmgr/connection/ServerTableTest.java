package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionEvent.Cause;
import io.connmgr.discovery.SessionEvent.Type;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The server table's transitions, without threads, channels or a discovery. */
class ServerTableTest {

  private static final KeyLayout LAYOUT = KeyLayout.MILVUS;

  private final List<String> effects = new ArrayList<>();
  private final ServerTable table = new ServerTable(LAYOUT, (key, session) -> new Server(key, session,
      new Server.Context(s -> {
        throw new AssertionError("the table never opens channels");
      }, Runnable::run, null)));
  private final ServerTable.Sink sink = new ServerTable.Sink() {
    @Override
    public void created(Server s) {
      effects.add("created " + s.key);
    }

    @Override
    public void removed(Server s, String reason) {
      effects.add("removed " + s.key + " " + reason);
    }

    @Override
    public void stopping(Server s) {
      effects.add("stopping " + s.key);
    }

    @Override
    public void renewed(Server s) {
      effects.add("renewed " + s.key);
    }
  };

  private static Session session(String role, long id, String address) {
    return Session.builder(role, address).serverId(id).build();
  }

  private static String key(String role, long id) {
    return LAYOUT.sessionKey(role, id);
  }

  private void added(Session s) {
    table.apply(new SessionEvent(Type.ADDED, key(s.role(), s.serverId()), s, 1, Cause.NONE), sink);
  }

  private Server server(String role, long id) {
    ServerTable.Role r = table.find(role);
    return r == null ? null : r.servers.values().stream().filter(s -> s.serverId == id).findFirst().orElse(null);
  }

  private List<String> drainDirty() {
    List<String> out = new ArrayList<>();
    ServerTable.Role r;
    while ((r = table.pollDirty()) != null) {
      out.add(r.name);
    }
    return out;
  }

  @Test
  void addedCreatesAnIdleServerAndMarksOnlyItsRoleDirty() {
    added(session("querynode", 7, "10.0.0.7:21123"));
    added(session("datanode", 1, "10.0.0.1:21124"));
    assertThat(effects).containsExactly("created querynode-7 (10.0.0.7:21123)", "created datanode-1 (10.0.0.1:21124)");
    assertThat(server("querynode", 7).state).isEqualTo(ServerState.IDLE);
    assertThat(server("querynode", 7).refusal()).isNull();
    assertThat(drainDirty()).containsExactly("querynode", "datanode");
    assertThat(table.hasDirty()).isFalse();
    assertThat(table.size()).isEqualTo(2);
  }

  @Test
  void removedInEveryStateFailsTheServerWithTheReason() {
    for (ServerState state : ServerState.values()) {
      if (state == ServerState.REMOVED) {
        continue;
      }
      effects.clear();
      Session s = session("querynode", 7, "10.0.0.7:21123");
      added(s);
      Server e = server("querynode", 7);
      e.state = state;
      drainDirty();
      table.apply(new SessionEvent(Type.REMOVED, key("querynode", 7), s, 2, Cause.LEASE_EXPIRED), sink);
      assertThat(e.state).as("from %s", state).isEqualTo(ServerState.REMOVED);
      assertThat(e.refusal().getDescription()).isEqualTo("querynode-7 (10.0.0.7:21123) lease expired");
      assertThat(effects).last().isEqualTo("removed querynode-7 (10.0.0.7:21123) lease expired");
      assertThat(drainDirty()).containsExactly("querynode");
      assertThat(server("querynode", 7)).isNull();
    }
    assertThat(table.size()).isZero();
  }

  @Test
  void removedOfAnUnknownKeyChangesNothing() {
    table.apply(new SessionEvent(Type.REMOVED, key("querynode", 9), session("querynode", 9, "h:1"), 2, Cause.DELETED),
        sink);
    assertThat(effects).isEmpty();
    assertThat(table.hasDirty()).isFalse();
  }

  @Test
  void stoppingRefusesNewCallsOnceAndAStoppingServerWithdrawnIsRenewed() {
    Session s = session("querynode", 7, "10.0.0.7:21123");
    added(s);
    drainDirty();
    Session stopping = s.withStopping(true);
    table.apply(new SessionEvent(Type.STOPPING, key("querynode", 7), stopping, s, 2, Cause.NONE), sink);
    Server e = server("querynode", 7);
    assertThat(e.state).isEqualTo(ServerState.STOPPING);
    assertThat(e.refusal().getDescription()).isEqualTo("querynode-7 (10.0.0.7:21123) is stopping");
    assertThat(drainDirty()).containsExactly("querynode");
    // the same value again: nothing new
    table.apply(new SessionEvent(Type.UPDATED, key("querynode", 7), stopping, stopping, 3, Cause.NONE), sink);
    assertThat(effects).containsExactly("created querynode-7 (10.0.0.7:21123)", "stopping querynode-7 (10.0.0.7:21123)");
    // Stopping withdrawn
    table.apply(new SessionEvent(Type.UPDATED, key("querynode", 7), s, stopping, 4, Cause.NONE), sink);
    assertThat(e.state).isEqualTo(ServerState.IDLE);
    assertThat(e.refusal()).isNull();
    assertThat(effects).last().isEqualTo("renewed querynode-7 (10.0.0.7:21123)");
  }

  @Test
  void anOfflineServerWhoseSessionChangesIsRenewed() {
    Session s = session("querynode", 7, "10.0.0.7:21123");
    added(s);
    Server e = server("querynode", 7);
    e.state = ServerState.OFFLINE;
    Session relabelled = Session.builder("querynode", "10.0.0.7:21123").serverId(7).hostName("qn-7").build();
    table.apply(new SessionEvent(Type.UPDATED, key("querynode", 7), relabelled, s, 2, Cause.NONE), sink);
    assertThat(e.state).isEqualTo(ServerState.IDLE);
    assertThat(e.session).isEqualTo(relabelled);
    assertThat(effects).last().isEqualTo("renewed querynode-7 (10.0.0.7:21123)");
  }

  @Test
  void anUpdateOfAReadyServerKeepsItsStateAndDoesNotRepublish() {
    Session s = session("querynode", 7, "10.0.0.7:21123");
    added(s);
    Server e = server("querynode", 7);
    e.state = ServerState.READY;
    drainDirty();
    Session relabelled = Session.builder("querynode", "10.0.0.7:21123").serverId(7).hostName("qn-7").build();
    table.apply(new SessionEvent(Type.UPDATED, key("querynode", 7), relabelled, s, 2, Cause.NONE), sink);
    assertThat(e.state).isEqualTo(ServerState.READY);
    assertThat(e.session).isEqualTo(relabelled);
    assertThat(table.hasDirty()).isFalse();
  }

  @Test
  void aKeyRepointedToANewAddressRemovesTheOldInstanceAndCreatesTheNew() {
    Session old = session("querynode", 7, "10.0.0.7:21123");
    added(old);
    Session moved = session("querynode", 7, "10.0.0.8:21123");
    table.apply(new SessionEvent(Type.UPDATED, key("querynode", 7), moved, old, 2, Cause.NONE), sink);
    assertThat(effects).containsExactly("created querynode-7 (10.0.0.7:21123)",
        "removed querynode-7 (10.0.0.7:21123) re-registered as querynode-7 (10.0.0.8:21123)",
        "created querynode-7 (10.0.0.8:21123)");
    assertThat(server("querynode", 7).key.address()).isEqualTo("10.0.0.8:21123");
    assertThat(table.size()).isEqualTo(1);
  }

  @Test
  void theActiveKeyNamesTheActiveServerWithoutOwningIt() {
    Session coord = Session.builder("rootcoord", "10.0.0.1:53100").serverId(1).exclusive(true).build();
    added(coord);
    table.apply(new SessionEvent(Type.ADDED, LAYOUT.activeKey("rootcoord"), coord, 2, Cause.NONE), sink);
    Server e = server("rootcoord", 1);
    assertThat(table.find("rootcoord").active).isSameAs(e);
    assertThat(e.refs).isEqualTo(2);
    assertThat(effects).containsExactly("created rootcoord-1 (10.0.0.1:53100)");

    // the active key goes (a standby will take it): the server stays, no longer active
    table.apply(new SessionEvent(Type.REMOVED, LAYOUT.activeKey("rootcoord"), coord, 3, Cause.DELETED), sink);
    assertThat(table.find("rootcoord").active).isNull();
    assertThat(e.state).isEqualTo(ServerState.IDLE);

    // a standby takes the active key
    Session standby = Session.builder("rootcoord", "10.0.0.2:53100").serverId(2).exclusive(true).build();
    added(standby);
    table.apply(new SessionEvent(Type.ADDED, LAYOUT.activeKey("rootcoord"), standby, 4, Cause.NONE), sink);
    assertThat(table.find("rootcoord").active).isSameAs(server("rootcoord", 2));

    // the former active server's own key goes: it is removed
    table.apply(new SessionEvent(Type.REMOVED, key("rootcoord", 1), coord, 5, Cause.DEREGISTERED), sink);
    assertThat(effects).last().isEqualTo("removed rootcoord-1 (10.0.0.1:53100) deregistered");
  }

  @Test
  void theActiveKeyRepointedMovesActivenessWithoutRemovingTheOldServer() {
    Session a = Session.builder("rootcoord", "10.0.0.1:53100").serverId(1).exclusive(true).build();
    Session b = Session.builder("rootcoord", "10.0.0.2:53100").serverId(2).exclusive(true).build();
    added(a);
    added(b);
    table.apply(new SessionEvent(Type.ADDED, LAYOUT.activeKey("rootcoord"), a, 3, Cause.NONE), sink);
    table.apply(new SessionEvent(Type.UPDATED, LAYOUT.activeKey("rootcoord"), b, a, 4, Cause.NONE), sink);
    assertThat(table.find("rootcoord").active).isSameAs(server("rootcoord", 2));
    assertThat(server("rootcoord", 1)).isNotNull();
    assertThat(server("rootcoord", 1).refs).isEqualTo(1);
    assertThat(server("rootcoord", 2).refs).isEqualTo(2);
  }

  @Test
  void clearRefusesEveryServer() {
    added(session("querynode", 7, "10.0.0.7:21123"));
    Server e = server("querynode", 7);
    table.clear(io.grpc.Status.UNAVAILABLE.withDescription("connection manager closed"));
    assertThat(e.state).isEqualTo(ServerState.REMOVED);
    assertThat(e.refusal().getDescription()).isEqualTo("connection manager closed");
    assertThat(table.size()).isZero();
  }
  // ------------------------------------------------------------------ the address allow-list

  private final ServerTable guarded = new ServerTable(LAYOUT, (key, session) -> new Server(key, session,
      new Server.Context(s -> {
        throw new AssertionError("the table never opens channels");
      }, Runnable::run, null)), AddressAllowList.of("10.0.0.0/8", "*.svc.cluster.local"), "allowAddresses");
  private final ServerTable.Sink countingSink = new ServerTable.Sink() {
    @Override
    public void created(Server s) {
      effects.add("created " + s.key);
    }

    @Override
    public void removed(Server s, String reason) {
      effects.add("removed " + s.key + " " + reason);
    }

    @Override
    public void stopping(Server s) {
      effects.add("stopping " + s.key);
    }

    @Override
    public void renewed(Server s) {
      effects.add("renewed " + s.key);
    }

    @Override
    public void disallowed(String key, Session session) {
      effects.add("disallowed " + key + " " + session.address());
    }
  };

  private Server guardedServer(long id) {
    ServerTable.Role r = guarded.find("querynode");
    return r == null ? null : r.servers.values().stream().filter(s -> s.serverId == id).findFirst().orElse(null);
  }

  @Test
  void aSessionOutsideTheAllowListIsIgnoredAndReportedOncePerKeyAndAddress() {
    Session ok = session("querynode", 1, "10.0.0.1:21123");
    Session named = session("querynode", 2, "qn-2.milvus.svc.cluster.local:21123");
    Session evil = session("querynode", 3, "203.0.113.9:21123");
    guarded.apply(new SessionEvent(Type.ADDED, key("querynode", 1), ok, 1, Cause.NONE), countingSink);
    guarded.apply(new SessionEvent(Type.ADDED, key("querynode", 2), named, 2, Cause.NONE), countingSink);
    guarded.apply(new SessionEvent(Type.ADDED, key("querynode", 3), evil, 3, Cause.NONE), countingSink);
    Session evilRelabelled = Session.builder("querynode", "203.0.113.9:21123").serverId(3).version("2").build();
    guarded.apply(new SessionEvent(Type.UPDATED, key("querynode", 3), evilRelabelled, evil, 4, Cause.NONE),
        countingSink);
    assertThat(effects).containsExactly("created querynode-1 (10.0.0.1:21123)",
        "created querynode-2 (qn-2.milvus.svc.cluster.local:21123)",
        "disallowed " + key("querynode", 3) + " 203.0.113.9:21123"); // the same address again: not reported again
    assertThat(guardedServer(3)).isNull();
    assertThat(guarded.size()).isEqualTo(2);

    // removed, then back at the same address: a new episode, reported again
    guarded.apply(new SessionEvent(Type.REMOVED, key("querynode", 3), evil, 5, Cause.DELETED), countingSink);
    guarded.apply(new SessionEvent(Type.ADDED, key("querynode", 3), evil, 6, Cause.NONE), countingSink);
    assertThat(effects).last().isEqualTo("disallowed " + key("querynode", 3) + " 203.0.113.9:21123");
    // and moved into the list: used
    Session fixed = session("querynode", 3, "10.0.0.3:21123");
    guarded.apply(new SessionEvent(Type.UPDATED, key("querynode", 3), fixed, evil, 7, Cause.NONE), countingSink);
    assertThat(effects).last().isEqualTo("created querynode-3 (10.0.0.3:21123)");
    assertThat(guardedServer(3).refs).isEqualTo(1);
  }

  @Test
  void aKnownServerWhoseSessionMovesOffTheListIsRemovedWithAStatusSayingSo() {
    Session ok = session("querynode", 1, "10.0.0.1:21123");
    guarded.apply(new SessionEvent(Type.ADDED, key("querynode", 1), ok, 1, Cause.NONE), countingSink);
    Server e = guardedServer(1);
    Session moved = session("querynode", 1, "198.51.100.1:21123");
    guarded.apply(new SessionEvent(Type.UPDATED, key("querynode", 1), moved, ok, 2, Cause.NONE), countingSink);
    assertThat(effects).containsExactly("created querynode-1 (10.0.0.1:21123)",
        "disallowed " + key("querynode", 1) + " 198.51.100.1:21123",
        "removed querynode-1 (10.0.0.1:21123) moved to 198.51.100.1:21123, which is not an allowed address");
    assertThat(e.state).isEqualTo(ServerState.REMOVED);
    assertThat(e.refusal().getDescription())
        .isEqualTo("querynode-1 (10.0.0.1:21123) moved to 198.51.100.1:21123, which is not an allowed address");
    assertThat(guarded.size()).isZero();
    // its deletion later finds nothing to release
    guarded.apply(new SessionEvent(Type.REMOVED, key("querynode", 1), moved, 3, Cause.DELETED), countingSink);
    assertThat(effects).hasSize(3);
  }
}
