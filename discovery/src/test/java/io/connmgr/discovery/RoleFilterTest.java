package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.discovery.internal.RoleFilter;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Keys of untracked roles are skipped before decoding; anything of another shape is decoded. */
class RoleFilterTest {

  private static final KeyLayout L = KeyLayout.MILVUS;

  @Test
  void keysOfTheLayoutsShapesAreJudgedByTheirRole() {
    RoleFilter f = RoleFilter.of(Set.of("querynode", "rootcoord"));
    assertThat(f.acceptsKey(L, L.sessionKey("querynode", 7))).isTrue();
    assertThat(f.acceptsKey(L, L.activeKey("rootcoord"))).isTrue();
    assertThat(f.acceptsKey(L, L.sessionKey("datanode", 7))).isFalse();
    assertThat(f.acceptsKey(L, L.activeKey("datacoord"))).isFalse();
    assertThat(f.acceptsKey(L, L.sessionKey("querynodex", 7))).isFalse();
    assertThat(f.acceptsKey(L, L.counterKeyPath())).isFalse(); // the id counter is never a session
  }

  @Test
  void keysOfAnotherShapeAreDecodedAndJudgedByTheirValue() {
    RoleFilter f = RoleFilter.of(Set.of("querynode"));
    assertThat(f.acceptsKey(L, L.root() + "nested/querynode-1")).isTrue();
    assertThat(f.acceptsKey(L, "elsewhere/querynode-1")).isTrue(); // not under the root: decoding rejects it
    assertThat(f.accepts("querynode")).isTrue();
    assertThat(f.accepts("datanode")).isFalse();
  }

  @Test
  void manyRolesUseTheSetAndNoneMeansAll() {
    Set<String> roles = new HashSet<>();
    for (int i = 0; i < 20; i++) {
      roles.add("role" + i);
    }
    RoleFilter f = RoleFilter.of(roles);
    assertThat(f.acceptsKey(L, L.sessionKey("role7", 3))).isTrue();
    assertThat(f.acceptsKey(L, L.activeKey("role19"))).isTrue();
    assertThat(f.acceptsKey(L, L.sessionKey("role20", 3))).isFalse();
    assertThat(RoleFilter.of(Set.of()).acceptsKey(L, L.sessionKey("anything", 1))).isTrue();
    assertThat(RoleFilter.of((String) null).all()).isTrue();
  }
}
