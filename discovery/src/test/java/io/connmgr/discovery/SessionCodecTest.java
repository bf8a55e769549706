package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SessionCodecTest {

  private static final String KEY = "by-dev/meta/session/querynode-7";

  private static Session decode(String json) {
    return SessionCodec.decode(KEY, json.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void readsMilvusSessionWithGoFieldNames() {
    Session s = decode("""
        {"ServerID":7,"ServerName":"querynode","Address":"10.0.0.7:21123","Exclusive":false,"Stopping":false,
         "TriggerKill":true,"Version":"2.4.0","LeaseID":7587878263477270546,"HostName":"qn-7",
         "ServerLabels":{"zone":"a"},"IndexEngineVersion":{"CurrentIndexVersion":4,"MinimalIndexVersion":0},
         "SomethingNew":[1,2]}
        """);
    assertThat(s.key()).isEqualTo(KEY);
    assertThat(s.role()).isEqualTo("querynode");
    assertThat(s.serverId()).isEqualTo(7);
    assertThat(s.address()).isEqualTo("10.0.0.7:21123");
    assertThat(s.host()).isEqualTo("10.0.0.7");
    assertThat(s.port()).isEqualTo(21123);
    assertThat(s.version()).isEqualTo("2.4.0");
    assertThat(s.leaseId()).isEqualTo(7587878263477270546L);
    assertThat(s.hostName()).isEqualTo("qn-7");
    assertThat(s.triggerKill()).isTrue();
    assertThat(s.labels()).isEqualTo(Map.of("zone", "a"));
    assertThat(s.attributes()).containsOnlyKeys("IndexEngineVersion", "SomethingNew");
    assertThat(s.name()).isEqualTo("querynode-7");
  }

  @Test
  void acceptsTheOldFormatWithoutVersionAndKeepsRoleCase() {
    Session s = decode("{\"ServerID\":5,\"ServerName\":\"QueryNode\",\"Address\":\"10.97.6.5:21123\"}");
    assertThat(s.role()).isEqualTo("QueryNode");
    assertThat(s.version()).isEmpty();
    assertThat(s.stopping()).isFalse();
    assertThat(s.exclusive()).isFalse();
    assertThat(s.leaseId()).isZero();
  }

  @Test
  void roundTripsIncludingUnknownFields() {
    Session s = decode("""
        {"ServerID":1,"ServerName":"rootcoord","Address":"[::1]:53100","Exclusive":true,"Stopping":true,
         "Version":"2.3.0-dev+abc","IndexEngineVersion":{"CurrentIndexVersion":4}}
        """);
    Session again = SessionCodec.decode(KEY, SessionCodec.encode(s));
    assertThat(again).isEqualTo(s);
    assertThat(again.host()).isEqualTo("::1");
    assertThat(SessionCodec.encodeToString(s)).contains("\"ServerID\":1", "\"ServerName\":\"rootcoord\"",
        "\"IndexEngineVersion\":{\"CurrentIndexVersion\":4}");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {
      "not json at all",
      "[1,2,3]",
      "\"a string\"",
      "{\"ServerID\":\"7\",\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\"}",
      "{\"ServerID\":7,\"ServerName\":7,\"Address\":\"10.0.0.7:1\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\",\"Stopping\":\"yes\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:0\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:65536\"}",
      "{\"ServerID\":-7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\"}",
      "{\"ServerID\":7.5,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\",\"Version\":\"two point four\"}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\",\"Version\":240}",
      "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\",\"ServerLabels\":[1]}",
      "{\"ServerID\":7,\"ServerName\":\"\",\"Address\":\"10.0.0.7:1\"}",
  })
  void rejectsInvalidValuesNamingTheKey(String json) {
    assertThatThrownBy(() -> decode(json))
        .isInstanceOfSatisfying(DiscoveryException.class,
            e -> assertThat(e.code()).isEqualTo(DiscoveryException.Code.INVALID_SESSION))
        .hasMessageContaining(KEY);
  }

  @Test
  void rejectsGarbageBytes() {
    byte[] garbage = {(byte) 0xff, (byte) 0xfe, 0, 1, 2, (byte) 0x80};
    assertThatThrownBy(() -> SessionCodec.decode(KEY, garbage)).isInstanceOf(DiscoveryException.class)
        .hasMessageContaining("not JSON");
  }

  @Test
  void rejectsOneMebibyteWithoutParsingIt() {
    byte[] big = new byte[1024 * 1024];
    java.util.Arrays.fill(big, (byte) ' ');
    assertThatThrownBy(() -> SessionCodec.decode(KEY, big)).isInstanceOf(DiscoveryException.class)
        .hasMessageContaining("1048576 bytes");
  }

  @Test
  void keyLayoutDefaultsAreMilvus() {
    KeyLayout l = KeyLayout.MILVUS;
    assertThat(l.sessionKey("querynode", 7)).isEqualTo("by-dev/meta/session/querynode-7");
    assertThat(l.activeKey("rootcoord")).isEqualTo("by-dev/meta/session/rootcoord");
    assertThat(l.isCounter("by-dev/meta/session/id")).isTrue();
    assertThat(l.isCounter("by-dev/meta/session/idx")).isFalse();
  }

  @Test
  void invalidLayoutNamesTheField() {
    assertThatThrownBy(() -> KeyLayout.withRoot("")).hasMessageStartingWith("root:");
    assertThatThrownBy(() -> KeyLayout.withRoot("no-slash")).hasMessageStartingWith("root:");
    assertThatThrownBy(() -> new KeyLayout("a/", "")).hasMessageStartingWith("counterKey:");
  }
}
