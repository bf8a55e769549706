package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.SessionEvent.Cause;
import io.connmgr.discovery.SessionEvent.Type;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testservers.ChildJvm;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.options.DeleteOption;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The etcd backend against one real etcd member. */
class EtcdDiscoveryTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember();

  private static Client writer;
  private String root;
  private EtcdDiscovery discovery;

  @BeforeAll
  static void connect() {
    writer = etcd.newClient();
  }

  @AfterAll
  static void disconnect() {
    writer.close();
  }

  @BeforeEach
  void setUp(TestInfo info) {
    root = "it/" + info.getTestMethod().orElseThrow().getName() + "-" + System.nanoTime() + "/";
    discovery = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(root)
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(500)).build();
  }

  @AfterEach
  void tearDown() {
    discovery.close();
  }

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  private void put(String key, byte[] value) throws Exception {
    writer.getKVClient().put(bytes(key), ByteSequence.from(value)).get(10, TimeUnit.SECONDS);
  }

  private static Session qn(long id) {
    return Session.builder("querynode", "127.0.0.1:" + (21000 + id)).serverId(id).version("2.4.0").build();
  }

  @Test
  void tenSessionsRegisteredThenDeletedByPrefix() throws Exception {
    RecordingListener l = new RecordingListener();
    discovery.subscribe(l);
    l.awaitSynced();
    for (int i = 1; i <= 10; i++) {
      put(root + "querynode-" + i, SessionCodec.encode(qn(i)));
    }
    await().atMost(Duration.ofSeconds(10)).until(() -> l.events(Type.ADDED).size() == 10);
    writer.getKVClient().delete(bytes(root), DeleteOption.builder().isPrefix(true).build()).get(10, TimeUnit.SECONDS);
    await().atMost(Duration.ofSeconds(10)).until(() -> l.events(Type.REMOVED).size() == 10);
    assertThat(l.events).hasSize(20);
    assertThat(l.view()).isEmpty();
  }

  @Test
  void registrarKilledWithKill9IsRemovedWhenItsLeaseExpires() throws Exception {
    RecordingListener l = new RecordingListener();
    discovery.subscribe(l);
    l.awaitSynced();
    try (ChildJvm child = ChildJvm.start(RegistrarMain.class, etcd.clientEndpoint(0), root, "querynode", "42", "2",
        "21042")) {
      assertThat(child.awaitLine("REGISTERED", Duration.ofSeconds(60)))
          .isEqualTo("REGISTERED " + root + "querynode-42");
      l.awaitEvent(e -> e.type() == Type.ADDED && e.session().serverId() == 42);
      child.kill();
      SessionEvent removed = l.awaitEvent(e -> e.type() == Type.REMOVED);
      assertThat(removed.cause()).isEqualTo(Cause.LEASE_EXPIRED);
      assertThat(removed.session().leaseId()).isNotZero();
    }
  }

  @Test
  void registrationStepsDownWithStoppingThenDeregistered() throws Exception {
    RecordingListener l = new RecordingListener();
    discovery.subscribe(l);
    l.awaitSynced();
    Registration r = discovery.register(qn(3), Duration.ofSeconds(5), RegistrationListener.NONE)
        .get(10, TimeUnit.SECONDS);
    l.awaitEvent(e -> e.type() == Type.ADDED);
    r.markStopping().get(10, TimeUnit.SECONDS);
    l.awaitEvent(e -> e.type() == Type.STOPPING);
    r.closeAsync().get(10, TimeUnit.SECONDS);
    SessionEvent removed = l.awaitEvent(e -> e.type() == Type.REMOVED);
    assertThat(removed.cause()).isEqualTo(Cause.DEREGISTERED);
    assertThat(l.events).extracting(SessionEvent::type).containsExactly(Type.ADDED, Type.STOPPING, Type.REMOVED);
    assertThat(writer.getKVClient().get(bytes(r.session().key())).get().getKvs()).isEmpty();
  }

  @Test
  void registrationRefusesAKeyHeldByAnotherLease() throws Exception {
    Registration r = discovery.register(qn(4), Duration.ofSeconds(5), RegistrationListener.NONE)
        .get(10, TimeUnit.SECONDS);
    try {
      assertThatThrownBy(() -> discovery.register(qn(4), Duration.ofSeconds(5), RegistrationListener.NONE)
          .get(10, TimeUnit.SECONDS))
          .hasCauseInstanceOf(DiscoveryException.class)
          .hasMessageContaining("ALREADY_REGISTERED");
    } finally {
      r.closeAsync().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void lostLeaseIsRegisteredAgainAndTheOwnerIsTold() throws Exception {
    List<String> calls = new CopyOnWriteArrayList<>();
    Registration r = discovery.register(qn(5), Duration.ofSeconds(5), new RegistrationListener() {
      @Override
      public void onSessionLost(Session session, Throwable cause) {
        calls.add("lost");
      }

      @Override
      public void onSessionRestored(Session session) {
        calls.add("restored");
      }
    }).get(10, TimeUnit.SECONDS);
    long first = r.session().leaseId();
    writer.getLeaseClient().revoke(first).get(10, TimeUnit.SECONDS); // someone else ends our lease
    await().atMost(Duration.ofSeconds(15)).until(() -> calls.equals(List.of("lost", "restored")));
    assertThat(r.session().leaseId()).isNotEqualTo(first);
    var kvs = writer.getKVClient().get(bytes(r.session().key())).get(10, TimeUnit.SECONDS).getKvs();
    assertThat(kvs).hasSize(1);
    assertThat(kvs.get(0).getLease()).isEqualTo(r.session().leaseId());
    r.closeAsync().get(10, TimeUnit.SECONDS);
  }

  @Test
  void serverIdsAreUniqueUnderConcurrentAllocation() throws Exception {
    List<CompletableFuture<Long>> futures = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      futures.add(discovery.allocateServerId());
    }
    Set<Long> ids = new HashSet<>();
    for (CompletableFuture<Long> f : futures) {
      ids.add(f.get(30, TimeUnit.SECONDS));
    }
    assertThat(ids).hasSize(20).allSatisfy(id -> assertThat(id).isBetween(1L, 20L));
    String counter = writer.getKVClient().get(bytes(root + "id")).get().getKvs().get(0).getValue()
        .toString(StandardCharsets.UTF_8);
    assertThat(counter).isEqualTo("20");
  }

  @Test
  void everyKindOfBadValueIsSkippedCountedAndTheWatchGoesOn() throws Exception {
    RecordingListener l = new RecordingListener();
    discovery.subscribe(l);
    l.awaitSynced();
    byte[] mib = new byte[1024 * 1024];
    java.util.Arrays.fill(mib, (byte) 'x');
    List<byte[]> bad = List.of(
        new byte[] {(byte) 0xff, 0, (byte) 0x80, 1},
        "{\"ServerID\":\"1\",\"ServerName\":\"querynode\",\"Address\":\"10.0.0.1:1\"}".getBytes(),
        "{\"ServerID\":1,\"ServerName\":\"querynode\"}".getBytes(),
        "{\"ServerID\":1,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.1:70000\"}".getBytes(),
        mib,
        "{\"ServerID\":-1,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.1:1\"}".getBytes(),
        "{\"ServerID\":1,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.1:1\",\"Version\":\"x.y\"}".getBytes());
    for (int i = 0; i < bad.size(); i++) {
      put(root + "querynode-" + (100 + i), bad.get(i));
    }
    put(root + "id", "17".getBytes()); // the counter is not a session and not invalid
    put(root + "querynode-1", SessionCodec.encode(qn(1)));
    l.awaitEvent(e -> e.session().serverId() == 1);
    assertThat(discovery.stats().invalidValues()).isEqualTo(bad.size());
    assertThat(l.events).hasSize(1);
    // a later subscriber's initial list skips them too, and counts them again
    RecordingListener late = new RecordingListener();
    discovery.subscribe(late);
    late.awaitSynced();
    assertThat(late.view().keySet()).containsExactly(root + "querynode-1");
  }

  @Test
  void etcdKilledAndRestartedWithWritesInFlightLosesNoEvent() throws Exception {
    RecordingListener l = new RecordingListener();
    discovery.subscribe(l);
    l.awaitSynced();
    WriteLoad load = new WriteLoad(writer, root, 8);
    load.start();
    await().atMost(Duration.ofSeconds(10)).until(() -> load.acknowledged() > 20);
    etcd.kill(0);
    etcd.start(0);
    await().atMost(Duration.ofSeconds(30)).until(() -> load.acknowledged() > 60);
    load.stop();
    Expectations.awaitConverged(l, writer, root);
    load.assertEveryAcknowledgedWriteWasSeen(l);
    assertThat(l.disconnects).isNotEmpty();
  }

  @Test
  void invalidConfigurationFailsWhenBuiltNamingTheField() {
    assertThatThrownBy(() -> EtcdDiscovery.builder().endpoints("localhost:2379"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("endpoints:");
    assertThatThrownBy(() -> EtcdDiscovery.builder().endpoints("http://127.0.0.1"))
        .hasMessageStartingWith("endpoints:");
    assertThatThrownBy(() -> EtcdDiscovery.builder().endpoints("http://[bad"))
        .hasMessageStartingWith("endpoints:");
    assertThatThrownBy(() -> EtcdDiscovery.builder().build()).hasMessageStartingWith("endpoints:");
    assertThatThrownBy(() -> EtcdDiscovery.builder().root("")).hasMessageStartingWith("root:");
    assertThatThrownBy(() -> EtcdDiscovery.builder().retryBackoff(Duration.ZERO, Duration.ofSeconds(1)))
        .hasMessageStartingWith("retryBackoff.initial:");
  }
}
