package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.SessionEvent.Type;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The behaviour every {@link Discovery} backend must show. Subclasses provide a {@link Backend}: the discovery under
 * test and a way to change what it serves.
 */
abstract class DiscoveryConformanceTest {

  /** A discovery and a writer for its backing store. */
  interface Backend extends AutoCloseable {
    Discovery discovery();

    /** Stores {@code session} at its key {@code <root><role>-<id>}. */
    void put(Session session);

    /** Stores raw JSON at {@code <root><role>-<id>}. */
    void putRaw(String role, long id, String json);

    /** Removes {@code <root><role>-<id>}. */
    void remove(String role, long id);

    @Override
    void close();
  }

  protected abstract Backend newBackend(String root) throws Exception;

  private static int counter;
  protected Backend backend;
  protected String root;
  private final ExecutorService userExecutor = Executors.newFixedThreadPool(2, r -> {
    Thread t = new Thread(r, "user-executor");
    t.setDaemon(true);
    return t;
  });

  @BeforeEach
  void setUp() throws Exception {
    root = "conformance/" + getClass().getSimpleName() + "-" + (++counter) + "-" + System.nanoTime() + "/";
    backend = newBackend(root);
  }

  @AfterEach
  void tearDown() throws Exception {
    backend.close();
    userExecutor.shutdownNow();
    assertThat(userExecutor.awaitTermination(5, TimeUnit.SECONDS)).isTrue();
  }

  static Session session(String role, long id, int port) {
    return Session.builder(role, "127.0.0.1:" + port).serverId(id).version("2.4.0").build();
  }

  private String key(String role, long id) {
    return root + role + "-" + id;
  }

  @Test
  void subscriptionStartsWithAddedForEverySessionThenSynced() {
    backend.put(session("querynode", 1, 1001));
    backend.put(session("querynode", 2, 1002));
    backend.put(session("datanode", 3, 1003));

    RecordingListener l = new RecordingListener();
    try (Subscription s = backend.discovery().subscribe(l)) {
      l.awaitSynced();
      assertThat(l.events).extracting(SessionEvent::type).containsOnly(Type.ADDED);
      assertThat(l.view().keySet()).containsExactly(key("datanode", 3), key("querynode", 1), key("querynode", 2));
      assertThat(s.revision()).isEqualTo(l.synced.get(0));
    }
  }

  @Test
  void deliversAddedUpdatedStoppingRemovedInOrder() {
    RecordingListener l = new RecordingListener();
    try (Subscription s = backend.discovery().subscribe(l)) {
      l.awaitSynced();
      Session v1 = session("querynode", 7, 2001);
      backend.put(v1);
      l.awaitEvent(e -> e.type() == Type.ADDED);
      Session v2 = Session.builder("querynode", "127.0.0.1:2002").serverId(7).version("2.4.1").build();
      backend.put(v2);
      l.awaitEvent(e -> e.type() == Type.UPDATED);
      backend.put(v2.withStopping(true));
      l.awaitEvent(e -> e.type() == Type.STOPPING);
      backend.remove("querynode", 7);
      SessionEvent removed = l.awaitEvent(e -> e.type() == Type.REMOVED);

      assertThat(l.events).extracting(SessionEvent::type)
          .containsExactly(Type.ADDED, Type.UPDATED, Type.STOPPING, Type.REMOVED);
      assertThat(l.events.get(1).session().address()).isEqualTo("127.0.0.1:2002");
      assertThat(l.events.get(2).session().stopping()).isTrue();
      assertThat(removed.session().name()).isEqualTo("querynode-7");
      assertThat(removed.key()).isEqualTo(key("querynode", 7));
      assertThat(l.events).extracting(SessionEvent::revision).isSorted();
      assertThat(l.view()).isEmpty();
    }
  }

  @Test
  void roleFilterDeliversOnlyThatRoleAndKeepsCase() throws Exception {
    backend.put(session("QueryNode", 5, 3001));
    backend.put(session("querynode", 6, 3002));
    RecordingListener l = new RecordingListener();
    try (Subscription s = backend.discovery().subscribe("QueryNode", l, null)) {
      l.awaitSynced();
      backend.put(session("datanode", 8, 3003));
      backend.put(session("QueryNode", 9, 3004));
      l.awaitEvent(e -> e.session().serverId() == 9);
      assertThat(l.events).allSatisfy(e -> assertThat(e.session().role()).isEqualTo("QueryNode"));
      assertThat(l.view().keySet()).containsExactly(key("QueryNode", 5), key("QueryNode", 9));
    }
    SessionSnapshot snap = backend.discovery().snapshot("querynode").get(10, TimeUnit.SECONDS);
    assertThat(snap.sessions()).extracting(Session::serverId).containsExactly(6L);
    SessionSnapshot all = backend.discovery().snapshot().get(10, TimeUnit.SECONDS);
    assertThat(all.sessions()).hasSize(4);
    assertThat(all.revision()).isPositive();
  }

  @Test
  void invalidValueIsSkippedCountedAndTheWatchGoesOn() {
    RecordingListener l = new RecordingListener();
    try (Subscription s = backend.discovery().subscribe(l)) {
      l.awaitSynced();
      long before = backend.discovery().stats().invalidValues();
      backend.putRaw("querynode", 11, "{\"ServerID\":11,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.1:99999\"}");
      await().atMost(Duration.ofSeconds(20))
          .until(() -> backend.discovery().stats().invalidValues() > before);
      backend.put(session("querynode", 12, 4001));
      l.awaitEvent(e -> e.session().serverId() == 12);
      assertThat(l.view().keySet()).containsExactly(key("querynode", 12));
    }
  }

  @Test
  void sessionTurningInvalidIsRemoved() {
    backend.put(session("querynode", 13, 4101));
    RecordingListener l = new RecordingListener();
    try (Subscription s = backend.discovery().subscribe(l)) {
      l.awaitSynced();
      backend.putRaw("querynode", 13, "{\"ServerID\":13,\"ServerName\":\"querynode\",\"Address\":\"no-port\"}");
      SessionEvent e = l.awaitEvent(ev -> ev.type() == Type.REMOVED);
      assertThat(e.cause()).isEqualTo(SessionEvent.Cause.INVALID);
    }
  }

  @Test
  void eventsRunOnTheGivenExecutorOneAtATime() {
    RecordingListener l = new RecordingListener() {
      private int inside;

      @Override
      public void onEvent(SessionEvent event) {
        synchronized (this) {
          inside++;
          assertThat(inside).isEqualTo(1);
        }
        super.onEvent(event);
        synchronized (this) {
          inside--;
        }
      }
    };
    try (Subscription s = backend.discovery().subscribe(null, l, userExecutor)) {
      l.awaitSynced();
      for (int i = 0; i < 20; i++) {
        backend.put(session("querynode", 100 + i, 5000 + i));
      }
      await().atMost(Duration.ofSeconds(20)).until(() -> l.view().size() == 20);
      assertThat(l.threads).containsOnly("user-executor");
      assertThat(l.events).extracting(SessionEvent::revision).isSorted();
    }
  }

  @Test
  void aThrowingListenerLosesNothing() {
    RecordingListener l = new RecordingListener() {
      @Override
      public void onEvent(SessionEvent event) {
        super.onEvent(event);
        throw new IllegalStateException("listener bug");
      }
    };
    try (Subscription s = backend.discovery().subscribe(l)) {
      l.awaitSynced();
      backend.put(session("querynode", 21, 6001));
      backend.put(session("querynode", 22, 6002));
      await().atMost(Duration.ofSeconds(20)).until(() -> l.view().size() == 2);
      assertThat(backend.discovery().stats().listenerErrors()).isGreaterThanOrEqualTo(2);
    }
  }

  @Test
  void closedSubscriptionReceivesNothingMore() {
    RecordingListener l = new RecordingListener();
    Subscription s = backend.discovery().subscribe(l);
    l.awaitSynced();
    s.close();
    s.close(); // idempotent
    RecordingListener other = new RecordingListener();
    try (Subscription s2 = backend.discovery().subscribe(other)) {
      other.awaitSynced();
      backend.put(session("querynode", 31, 7001));
      other.awaitEvent(e -> e.session().serverId() == 31);
      assertThat(l.events).isEmpty();
    }
  }

  @Test
  void manySubscribersConvergeOnTheSameView() {
    List<RecordingListener> listeners = List.of(new RecordingListener(), new RecordingListener(),
        new RecordingListener());
    List<Subscription> subs = listeners.stream().map(l -> backend.discovery().subscribe(l)).toList();
    try {
      listeners.forEach(RecordingListener::awaitSynced);
      for (int i = 0; i < 10; i++) {
        backend.put(session("indexnode", i, 8000 + i));
      }
      for (int i = 0; i < 10; i += 2) {
        backend.remove("indexnode", i);
      }
      for (RecordingListener l : listeners) {
        await().atMost(Duration.ofSeconds(20)).until(() -> l.view().size() == 5);
        Map<String, Session> view = l.view();
        assertThat(view.values()).extracting(Session::serverId).containsExactlyInAnyOrder(1L, 3L, 5L, 7L, 9L);
      }
    } finally {
      subs.forEach(Subscription::close);
    }
  }
}
