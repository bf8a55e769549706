package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.SessionEvent.Type;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.options.GetOption;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/** Checks that a subscriber converged on etcd's state and that its events are a consistent history. */
final class Expectations {

  private Expectations() {}

  /** The valid sessions under {@code root} now in etcd. */
  static Map<String, Session> etcdState(Client client, String root) throws Exception {
    Map<String, Session> out = new TreeMap<>();
    KeyLayout layout = KeyLayout.withRoot(root);
    var resp = client.getKVClient().get(ByteSequence.from(root, StandardCharsets.UTF_8),
        GetOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS);
    for (KeyValue kv : resp.getKvs()) {
      String key = kv.getKey().toString(StandardCharsets.UTF_8);
      if (layout.isCounter(key)) {
        continue;
      }
      try {
        Session s = SessionCodec.decode(key, kv.getValue().getBytes());
        out.put(key, s.leaseId() == 0 && kv.getLease() != 0 ? s.withLeaseId(kv.getLease()) : s);
      } catch (DiscoveryException e) {
        // invalid values are not sessions
      }
    }
    return out;
  }

  static void awaitConverged(RecordingListener l, Client client, String root) throws Exception {
    Map<String, Session> expected = etcdState(client, root);
    await().atMost(Duration.ofSeconds(30)).until(() -> viewUnder(l, root).equals(expected));
    assertConsistentHistory(l);
  }

  static Map<String, Session> viewUnder(RecordingListener l, String root) {
    Map<String, Session> out = new TreeMap<>(l.view());
    out.keySet().removeIf(k -> !k.startsWith(root));
    return out;
  }

  /** ADDED only for an absent key, UPDATED/STOPPING/REMOVED only for a present one, revisions never go back. */
  static void assertConsistentHistory(RecordingListener l) {
    Set<String> present = new HashSet<>();
    long last = 0;
    for (SessionEvent e : l.events) {
      assertThat(e.revision()).as("revision order at %s", e).isGreaterThanOrEqualTo(last);
      last = e.revision();
      if (e.type() == Type.ADDED) {
        assertThat(present.add(e.key())).as("ADDED for a key already present: %s", e).isTrue();
      } else if (e.type() == Type.REMOVED) {
        assertThat(present.remove(e.key())).as("REMOVED for an absent key: %s", e).isTrue();
      } else {
        assertThat(present).as("%s for an absent key", e).contains(e.key());
      }
    }
  }
}
