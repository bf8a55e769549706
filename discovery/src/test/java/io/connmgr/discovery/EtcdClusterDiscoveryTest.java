package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.SessionEvent.Type;
import io.connmgr.testing.EtcdCluster;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.CompactOption;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The etcd backend against a real three-member cluster. */
class EtcdClusterDiscoveryTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.members(3);

  /** Writes through member 1, which these tests never stop. */
  private static Client writer;

  @BeforeAll
  static void connect() {
    writer = etcd.newClient(1);
  }

  @AfterAll
  static void disconnect() {
    writer.close();
  }

  private static String root(TestInfo info) {
    return "cluster/" + info.getTestMethod().orElseThrow().getName() + "-" + System.nanoTime() + "/";
  }

  private static void put(String key, Session s) throws Exception {
    writer.getKVClient().put(ByteSequence.from(key, StandardCharsets.UTF_8), ByteSequence.from(SessionCodec.encode(s)))
        .get(10, TimeUnit.SECONDS);
  }

  private static Session qn(long id, int port) {
    return Session.builder("querynode", "127.0.0.1:" + port).serverId(id).build();
  }

  @Test
  void killingTheWatchedMemberLosesNoEvent(TestInfo info) throws Exception {
    String root = root(info);
    // the subscriber knows every member; each one is killed in turn while writes are in flight, so the one it
    // watches through is certainly among them
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(root)
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(500)).build()) {
      RecordingListener l = new RecordingListener();
      d.subscribe(l);
      l.awaitSynced();
      try (Client loadClient = etcd.newClient()) {
        WriteLoad load = new WriteLoad(loadClient, root, 6);
        load.start();
        for (int member = 0; member < 3; member++) {
          int before = load.acknowledged();
          await().atMost(Duration.ofSeconds(20)).until(() -> load.acknowledged() > before + 10);
          etcd.kill(member);
          int during = load.acknowledged();
          await().atMost(Duration.ofSeconds(30)).until(() -> load.acknowledged() > during + 10);
          etcd.start(member);
        }
        load.stop();
        Expectations.awaitConverged(l, writer, root);
        load.assertEveryAcknowledgedWriteWasSeen(l);
      }
    }
  }

  @Test
  void compactionWhileCutOffConvergesByRelisting(TestInfo info) throws Exception {
    String root = root(info);
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoint(0)).root(root)
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(300)).build()) {
      for (int i = 1; i <= 5; i++) {
        put(root + "querynode-" + i, qn(i, 1000 + i));
      }
      RecordingListener l = new RecordingListener();
      d.subscribe(l);
      l.awaitSynced();
      assertThat(l.view()).hasSize(5);

      etcd.stop(0); // the subscriber's only member: it is cut off
      writer.getKVClient().delete(ByteSequence.from(root + "querynode-1", StandardCharsets.UTF_8)).get();
      writer.getKVClient().delete(ByteSequence.from(root + "querynode-2", StandardCharsets.UTF_8)).get();
      put(root + "querynode-3", qn(3, 2003));
      put(root + "querynode-4", qn(4, 1004).withStopping(true));
      put(root + "querynode-6", qn(6, 1006));
      long rev = writer.getKVClient().get(ByteSequence.from(root, StandardCharsets.UTF_8)).get().getHeader()
          .getRevision();
      writer.getKVClient().compact(rev, CompactOption.builder().withCompactPhysical(true).build()).get();
      etcd.start(0);

      Expectations.awaitConverged(l, writer, root);
      assertThat(d.stats().resyncs()).isGreaterThanOrEqualTo(1);
      assertThat(l.synced).hasSizeGreaterThanOrEqualTo(2);
      assertThat(l.events(Type.REMOVED)).extracting(e -> e.session().serverId()).containsExactlyInAnyOrder(1L, 2L);
      assertThat(l.events(Type.REMOVED)).allSatisfy(e -> assertThat(e.cause()).isEqualTo(SessionEvent.Cause.RESYNC));
      assertThat(l.events(Type.STOPPING)).extracting(e -> e.session().serverId()).containsExactly(4L);
      assertThat(l.events(Type.UPDATED)).extracting(e -> e.session().serverId()).containsExactly(3L);
    }
  }
}
