package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.SessionEvent.Cause;
import io.connmgr.discovery.SessionEvent.Type;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class InMemoryRegistryTest {

  private final AtomicLong now = new AtomicLong();
  private final InMemoryRegistry registry = InMemoryRegistry.builder().ticker(now::get).build();

  @AfterEach
  void close() {
    registry.close();
  }

  private static Session qn(long id) {
    return Session.builder("querynode", "127.0.0.1:" + (20000 + id)).serverId(id).version("2.4.0").build();
  }

  @Test
  void registrationCreatesTheKeyAndRefusesASecondHolder() throws Exception {
    Registration r = registry.register(qn(1), Duration.ofSeconds(10), RegistrationListener.NONE)
        .get(5, TimeUnit.SECONDS);
    assertThat(r.session().key()).isEqualTo("by-dev/meta/session/querynode-1");
    assertThat(r.session().leaseId()).isNotZero();
    assertThat(registry.get(r.session().key())).isPresent();
    assertThatThrownBy(() -> registry.register(qn(1), Duration.ofSeconds(10), RegistrationListener.NONE)
        .get(5, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause().isInstanceOfSatisfying(DiscoveryException.class,
            e -> assertThat(e.code()).isEqualTo(DiscoveryException.Code.ALREADY_REGISTERED));
  }

  @Test
  void steppingDownGivesStoppingThenDeregistered() throws Exception {
    RecordingListener l = new RecordingListener();
    registry.subscribe(l);
    l.awaitSynced();
    Registration r = registry.register(qn(2), Duration.ofSeconds(10), RegistrationListener.NONE)
        .get(5, TimeUnit.SECONDS);
    r.markStopping().get(5, TimeUnit.SECONDS);
    r.closeAsync().get(5, TimeUnit.SECONDS);
    SessionEvent removed = l.awaitEvent(e -> e.type() == Type.REMOVED);
    assertThat(l.events).extracting(SessionEvent::type).containsExactly(Type.ADDED, Type.STOPPING, Type.REMOVED);
    assertThat(removed.cause()).isEqualTo(Cause.DEREGISTERED);
    assertThat(registry.leases()).isEmpty();
  }

  @Test
  void expiredLeaseRemovesTheSessionWithLeaseExpired() throws Exception {
    RecordingListener l = new RecordingListener();
    registry.subscribe(l);
    long lease = registry.grantLease(Duration.ofSeconds(3));
    registry.put("by-dev/meta/session/querynode-3", SessionCodec.encode(qn(3)), lease);
    l.awaitEvent(e -> e.type() == Type.ADDED);
    now.addAndGet(Duration.ofSeconds(4).toNanos());
    registry.expireLease(lease); // what the expiry timer does once the ticker passes the deadline
    SessionEvent removed = l.awaitEvent(e -> e.type() == Type.REMOVED);
    assertThat(removed.cause()).isEqualTo(Cause.LEASE_EXPIRED);
    assertThat(removed.reason()).isEqualTo("lease expired");
  }

  @Test
  void lostSessionIsRegisteredAgainAndTheOwnerIsTold() throws Exception {
    List<String> calls = new CopyOnWriteArrayList<>();
    Registration r = registry.register(qn(4), Duration.ofSeconds(3), new RegistrationListener() {
      @Override
      public void onSessionLost(Session session, Throwable cause) {
        calls.add("lost " + session.leaseId());
      }

      @Override
      public void onSessionRestored(Session session) {
        calls.add("restored " + session.leaseId());
      }
    }).get(5, TimeUnit.SECONDS);
    long first = r.session().leaseId();
    registry.expireLease(first);
    // the keep-alive runs every ttl/3 = 1s on the registry's thread and notices the lease is gone
    await().atMost(Duration.ofSeconds(10)).until(() -> calls.size() == 2);
    assertThat(calls.get(0)).isEqualTo("lost " + first);
    assertThat(r.session().leaseId()).isNotEqualTo(first);
    assertThat(calls.get(1)).isEqualTo("restored " + r.session().leaseId());
    assertThat(registry.get(r.session().key())).isPresent();
    r.closeAsync().get(5, TimeUnit.SECONDS);
    assertThat(registry.get(r.session().key())).isEmpty();
  }

  @Test
  void serverIdsComeFromTheCounter() throws Exception {
    assertThat(registry.allocateServerId().get()).isEqualTo(1);
    assertThat(registry.allocateServerId().get()).isEqualTo(2);
    assertThat(registry.get("by-dev/meta/session/id")).hasValueSatisfying(v -> assertThat(new String(v)).isEqualTo("2"));
  }

  @Test
  void exclusiveRoleTakesTheActiveKeyOnce() throws Exception {
    Session rc = Session.builder("rootcoord", "127.0.0.1:53100").serverId(1).exclusive(true).build();
    Registration a = registry.register(rc, Duration.ofSeconds(10), RegistrationListener.NONE).get();
    Registration b = registry.register(rc.withServerId(2), Duration.ofSeconds(10), RegistrationListener.NONE).get();
    assertThat(a.active()).isTrue();
    assertThat(b.active()).isFalse();
    assertThat(registry.get("by-dev/meta/session/rootcoord")).isPresent();
    SessionSnapshot snap = registry.snapshot("rootcoord").get();
    assertThat(snap.sessions()).extracting(Session::key).containsExactly("by-dev/meta/session/rootcoord",
        "by-dev/meta/session/rootcoord-1", "by-dev/meta/session/rootcoord-2");
    assertThat(registry.layout().isActiveKey(snap.sessions().get(0).key(), snap.sessions().get(0))).isTrue();
  }

  @Test
  void leaseExpiresOnItsOwnWhenTheTickerPassesTheDeadline() {
    InMemoryRegistry real = InMemoryRegistry.create();
    try {
      RecordingListener l = new RecordingListener();
      real.subscribe(l);
      long lease = real.grantLease(Duration.ofSeconds(1));
      real.put("by-dev/meta/session/querynode-5", SessionCodec.encode(qn(5)), lease);
      SessionEvent removed = l.awaitEvent(e -> e.type() == Type.REMOVED);
      assertThat(removed.cause()).isEqualTo(Cause.LEASE_EXPIRED);
    } finally {
      real.close();
    }
  }

  @Test
  void closedRegistryRefusesWork() {
    registry.close();
    assertThatThrownBy(() -> registry.subscribe(SessionListener.NONE))
        .isInstanceOfSatisfying(DiscoveryException.class,
            e -> assertThat(e.code()).isEqualTo(DiscoveryException.Code.CLOSED));
  }
}
