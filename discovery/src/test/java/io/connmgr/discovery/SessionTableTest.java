package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.discovery.SessionEvent.Cause;
import io.connmgr.discovery.SessionEvent.Type;
import io.connmgr.discovery.internal.Counters;
import io.connmgr.discovery.internal.RawKeyValue;
import io.connmgr.discovery.internal.SessionTable;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SessionTableTest {

  private final Counters counters = new Counters();
  private final SessionTable table = new SessionTable(KeyLayout.MILVUS, io.connmgr.discovery.internal.RoleFilter.ALL, counters);

  private static RawKeyValue kv(String name, long id, int port, boolean stopping, long rev) {
    Session s = Session.builder(name, "10.0.0.1:" + port).serverId(id).build().withStopping(stopping);
    return new RawKeyValue(KeyLayout.MILVUS.sessionKey(name, id), SessionCodec.encode(s), rev, 0);
  }

  private List<SessionEvent> put(RawKeyValue kv) {
    List<SessionEvent> out = new ArrayList<>();
    table.put(kv, out);
    return out;
  }

  @Test
  void replayingAnEventChangesNothing() {
    RawKeyValue a = kv("querynode", 1, 1, false, 10);
    assertThat(put(a)).extracting(SessionEvent::type).containsExactly(Type.ADDED);
    assertThat(put(a)).isEmpty();
    RawKeyValue b = kv("querynode", 1, 2, false, 11);
    assertThat(put(b)).extracting(SessionEvent::type).containsExactly(Type.UPDATED);
    assertThat(put(a)).isEmpty(); // older revision
    List<SessionEvent> out = new ArrayList<>();
    table.delete(a.key(), 12, null, out);
    assertThat(out).extracting(SessionEvent::type).containsExactly(Type.REMOVED);
    out.clear();
    table.delete(a.key(), 12, null, out);
    assertThat(out).isEmpty();
    assertThat(put(b)).isEmpty(); // a put from before the delete does not resurrect it
    assertThat(table.sessions()).isEmpty();
  }

  @Test
  void severalKeysAtOneRevisionAllApply() {
    assertThat(put(kv("querynode", 1, 1, false, 5))).hasSize(1);
    assertThat(put(kv("querynode", 2, 2, false, 5))).hasSize(1);
    assertThat(table.sessions()).hasSize(2);
  }

  @Test
  void stoppingIsItsOwnEventAndRemovalCauseFollowsIt() {
    put(kv("querynode", 1, 1, false, 5));
    assertThat(put(kv("querynode", 1, 1, true, 6))).extracting(SessionEvent::type).containsExactly(Type.STOPPING);
    List<SessionEvent> out = new ArrayList<>();
    table.delete(KeyLayout.MILVUS.sessionKey("querynode", 1), 7, null, out);
    assertThat(out.get(0).cause()).isEqualTo(Cause.DEREGISTERED);
    assertThat(out.get(0).reason()).isEqualTo("deregistered");
  }

  @Test
  void resyncEmitsTheDifference() {
    put(kv("querynode", 1, 1, false, 5));
    put(kv("querynode", 2, 2, false, 6));
    put(kv("querynode", 3, 3, false, 7));
    List<SessionEvent> out = new ArrayList<>();
    table.resync(List.of(kv("querynode", 2, 2, false, 6), kv("querynode", 3, 4, false, 20),
        kv("querynode", 4, 4, false, 21)), 25, out);
    assertThat(out).extracting(e -> e.type() + " " + e.session().serverId())
        .containsExactly("REMOVED 1", "UPDATED 3", "ADDED 4");
    assertThat(out.get(0).cause()).isEqualTo(Cause.RESYNC);
    assertThat(table.revision()).isEqualTo(25);
  }

  @Test
  void counterKeyIsNeverASessionAndNotCountedInvalid() {
    assertThat(put(new RawKeyValue("by-dev/meta/session/id", "42".getBytes(), 3, 0))).isEmpty();
    assertThat(counters.invalidValues.sum()).isZero();
  }

  @Test
  void invalidValueWarnsOnceAndCounts() {
    RawKeyValue bad = new RawKeyValue("by-dev/meta/session/querynode-9", "{oops".getBytes(), 3, 0);
    assertThat(put(bad)).isEmpty();
    List<SessionEvent> out = new ArrayList<>();
    table.resync(List.of(bad), 4, out);
    assertThat(out).isEmpty();
    assertThat(counters.invalidValues.sum()).isEqualTo(1);
  }
}
