package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.awaitility.Awaitility.await;

import io.connmgr.testing.LeakCheck;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link Discovery#leader} and the campaign of exclusive registrations, the same for every {@link Registry}. Each
 * test gets a fresh root; registrations and the backend are closed after it and the leak check then wants every
 * {@code connmgr-} thread gone.
 */
abstract class LeadershipConformanceTest {

  static final Duration WAIT = Duration.ofSeconds(15);
  static final String ROLE = "rootcoord";

  @RegisterExtension
  final LeakCheck leaks = LeakCheck.within(Duration.ofSeconds(10));

  /** One backend under test, with raw access to its keys and leases as an operator would have. */
  interface Backend extends AutoCloseable {
    /** The backend as discovery and registry (one object). */
    Discovery discovery();

    Registry registry();

    /** Puts {@code value} at {@code key} with no lease. */
    void putRaw(String key, byte[] value);

    /** Puts {@code value} at {@code key} on a new lease of its own (another server's, say); returns that lease. */
    long putRawOnNewLease(String key, byte[] value);

    void deleteRaw(String key);

    /** Revokes {@code lease} as someone else would. */
    void revokeRaw(long lease);

    @Override
    void close();
  }

  protected abstract Backend newBackend(String root);

  protected String root;
  protected Backend backend;
  private final List<Registration> registrations = new ArrayList<>();

  @BeforeEach
  void setUpBackend(TestInfo info) {
    root = "lead/" + info.getTestMethod().orElseThrow().getName() + "-" + System.nanoTime() + "/";
    backend = newBackend(root);
  }

  @AfterEach
  void tearDownBackend() throws Exception {
    for (Registration r : registrations) {
      r.closeAsync().get(10, TimeUnit.SECONDS);
    }
    backend.close();
  }

  static Session exclusive(long id) {
    return Session.builder(ROLE, "127.0.0.1:" + (22000 + id)).serverId(id).exclusive(true).version("2.4.0").build();
  }

  Registration register(Session s, RegistrationListener listener) throws Exception {
    Registration r = backend.registry().register(s, Duration.ofSeconds(5), listener).get(10, TimeUnit.SECONDS);
    registrations.add(r);
    return r;
  }

  Leader leader() throws Exception {
    return backend.discovery().leader(ROLE).get(10, TimeUnit.SECONDS);
  }

  /** The {@link DiscoveryException} {@code f} fails with. */
  static DiscoveryException failure(CompletableFuture<?> f) {
    Throwable t = catchThrowable(() -> f.get(10, TimeUnit.SECONDS));
    assertThat(t).isInstanceOf(ExecutionException.class);
    assertThat(t.getCause()).isInstanceOf(DiscoveryException.class);
    return (DiscoveryException) t.getCause();
  }

  String activeKey() {
    return root + ROLE;
  }

  /** The id leader() names now, or -1 if it fails. */
  long leaderId() {
    try {
      return backend.discovery().leader(ROLE).get(10, TimeUnit.SECONDS).serverId();
    } catch (Exception e) {
      return -1;
    }
  }

  // ---------------------------------------------------------------- leader()

  @Test
  void leaderNamesTheActiveServerWithItsFieldsAndARevision() throws Exception {
    Registration r = register(exclusive(7), RegistrationListener.NONE);
    assertThat(r.active()).isTrue();
    Leader l = leader();
    assertThat(l.role()).isEqualTo(ROLE);
    assertThat(l.serverId()).isEqualTo(7);
    assertThat(l.address()).isEqualTo("127.0.0.1:22007");
    assertThat(l.revision()).isPositive();
    assertThat(l.session().serverId()).isEqualTo(7);
    assertThat(l.session().role()).isEqualTo(ROLE);
    assertThat(l.session().exclusive()).isTrue();
    assertThat(l.session().version()).isEqualTo("2.4.0");
    assertThat(l.session().leaseId()).isEqualTo(r.session().leaseId());
  }

  @Test
  void leaderFailsNoLeaderWhenTheActiveKeyIsAbsent() throws Exception {
    register(Session.builder(ROLE, "127.0.0.1:22001").serverId(1).build(), RegistrationListener.NONE); // not exclusive
    DiscoveryException e = failure(backend.discovery().leader(ROLE));
    assertThat(e.code()).isEqualTo(DiscoveryException.Code.NO_LEADER);
    assertThat(e.getMessage()).contains("'" + activeKey() + "'");
  }

  @Test
  void leaderFailsMalformedWhenTheActiveKeyHoldsGarbage() {
    backend.putRaw(activeKey(), "this is not a session".getBytes(StandardCharsets.UTF_8));
    DiscoveryException e = failure(backend.discovery().leader(ROLE));
    assertThat(e.code()).isEqualTo(DiscoveryException.Code.LEADER_MALFORMED);
    assertThat(e.getMessage()).contains("'" + activeKey() + "'").contains("not JSON");
  }

  @Test
  void leaderFailsMalformedWhenTheActiveKeyMissesAField() {
    backend.putRaw(activeKey(), ("{\"ServerID\":3,\"ServerName\":\"" + ROLE + "\"}").getBytes(StandardCharsets.UTF_8));
    DiscoveryException e = failure(backend.discovery().leader(ROLE));
    assertThat(e.code()).isEqualTo(DiscoveryException.Code.LEADER_MALFORMED);
    assertThat(e.getMessage()).contains("'" + activeKey() + "'").contains("Address is missing");
  }

  @Test
  void leaderFailsGoneWhenTheNamedServersOwnKeyIsAbsent() {
    backend.putRaw(activeKey(), SessionCodec.encode(exclusive(9)));
    DiscoveryException e = failure(backend.discovery().leader(ROLE));
    assertThat(e.code()).isEqualTo(DiscoveryException.Code.LEADER_GONE);
    assertThat(e.getMessage()).contains("'" + activeKey() + "'").contains("'" + root + ROLE + "-9'");
  }

  // ---------------------------------------------------------------- campaign

  @Test
  void twoExclusiveRegistrationsOfOneRoleMakeExactlyOneActive() throws Exception {
    LeadershipRecorder la = new LeadershipRecorder();
    LeadershipRecorder lb = new LeadershipRecorder();
    CompletableFuture<Registration> fa = backend.registry().register(exclusive(1), Duration.ofSeconds(5), la);
    CompletableFuture<Registration> fb = backend.registry().register(exclusive(2), Duration.ofSeconds(5), lb);
    Registration a = fa.get(10, TimeUnit.SECONDS);
    Registration b = fb.get(10, TimeUnit.SECONDS);
    registrations.add(a);
    registrations.add(b);
    assertThat(a.active() ^ b.active()).as("exactly one active: a=%s b=%s", a.active(), b.active()).isTrue();
    Registration winner = a.active() ? a : b;
    assertThat(la.acquired() + lb.acquired()).isEqualTo(1);
    assertThat(leader().serverId()).isEqualTo(winner.session().serverId());
  }

  @Test
  void closingTheActiveOneLetsTheOtherAcquire() throws Exception {
    LeadershipRecorder la = new LeadershipRecorder();
    LeadershipRecorder lb = new LeadershipRecorder();
    Registration a = register(exclusive(1), la);
    Registration b = register(exclusive(2), lb);
    assertThat(a.active()).isTrue();
    assertThat(b.active()).isFalse();
    assertThat(lb.acquired()).isZero();

    a.closeAsync().get(10, TimeUnit.SECONDS);
    assertThat(a.active()).isFalse();
    assertThat(la.lost()).containsExactly("closed");
    await().atMost(WAIT).until(b::active);
    assertThat(lb.calls).containsExactly("acquired");
    await().atMost(WAIT).until(() -> leaderId() == 2);
    assertThat(leader().address()).isEqualTo("127.0.0.1:22002");
  }

  @Test
  void steppingDownHandsOverAndTheSteppedDownOneNeverTakesItBack() throws Exception {
    LeadershipRecorder la = new LeadershipRecorder();
    LeadershipRecorder lb = new LeadershipRecorder();
    Registration a = register(exclusive(1), la);
    Registration b = register(exclusive(2), lb);
    assertThat(a.active()).isTrue();

    a.stepDown().get(10, TimeUnit.SECONDS);
    assertThat(a.active()).isFalse();
    assertThat(la.calls).containsExactly("acquired", "lost:stepped down");
    await().atMost(WAIT).until(b::active);
    assertThat(lb.calls).containsExactly("acquired");
    await().atMost(WAIT).until(() -> leaderId() == 2);
    a.stepDown().get(10, TimeUnit.SECONDS); // idempotent, at once when not active
    b.stepDown().get(10, TimeUnit.SECONDS); // now nobody leads: a, still registered, must not take it back
    assertThat(lb.lost()).containsExactly("stepped down");
    await().during(Duration.ofSeconds(1)).atMost(WAIT).until(() -> !a.active() && !b.active()
        && backend.discovery().leader(ROLE).handle((l, err) -> err != null).get(10, TimeUnit.SECONDS));
    assertThat(la.acquired()).isEqualTo(1);
    assertThat(failure(backend.discovery().leader(ROLE)).code()).isEqualTo(DiscoveryException.Code.NO_LEADER);
    assertThat(backend.discovery().snapshot(ROLE).get(10, TimeUnit.SECONDS).sessions())
        .extracting(Session::key).containsExactly(root + ROLE + "-1", root + ROLE + "-2"); // both stay registered
  }

  @Test
  void losingTheLeaseReportsLeadershipLostAtOnceAndTheOtherAcquires() throws Exception {
    LeadershipRecorder la = new LeadershipRecorder();
    LeadershipRecorder lb = new LeadershipRecorder();
    Registration a = register(exclusive(1), la);
    Registration b = register(exclusive(2), lb);
    long firstLease = a.session().leaseId();
    assertThat(a.active()).isTrue();

    backend.revokeRaw(firstLease);
    await().atMost(WAIT).until(() -> !la.lost().isEmpty());
    await().atMost(WAIT).until(b::active);
    await().atMost(WAIT).until(() -> leaderId() == 2);
    // a registers again, under a new lease, as a standby
    await().atMost(WAIT).until(() -> la.calls.contains("restored"));
    assertThat(a.session().leaseId()).isNotEqualTo(firstLease);
    assertThat(a.active()).isFalse();
    assertThat(la.acquired()).isEqualTo(1);
    assertThat(la.indexOf("lost:")).as("leadership lost before the session is reported lost or restored: %s", la)
        .isLessThan(la.indexOf("sessionLost")).isLessThan(la.indexOf("restored"));
  }

  @Test
  void theActiveKeyDeletedBySomeoneIsLostByTheLeaderAndTakenByExactlyOne() throws Exception {
    LeadershipRecorder la = new LeadershipRecorder();
    LeadershipRecorder lb = new LeadershipRecorder();
    Registration a = register(exclusive(1), la);
    Registration b = register(exclusive(2), lb);
    backend.deleteRaw(activeKey());
    await().atMost(WAIT).until(() -> !la.lost().isEmpty());
    assertThat(la.lost().get(0)).contains("deleted");
    await().atMost(WAIT).until(() -> a.active() || b.active());
    await().during(Duration.ofMillis(500)).atMost(WAIT).until(() -> a.active() ^ b.active());
    long winner = a.active() ? 1 : 2;
    await().atMost(WAIT).until(() -> leaderId() == winner);
  }

  @Test
  void theActiveKeyTakenByAnotherLeaseIsLost() throws Exception {
    LeadershipRecorder la = new LeadershipRecorder();
    Registration a = register(exclusive(1), la);
    long other = backend.putRawOnNewLease(activeKey(), SessionCodec.encode(exclusive(5)));
    await().atMost(WAIT).until(() -> !a.active());
    assertThat(la.lost()).singleElement().asString().contains("taken by lease " + Long.toHexString(other));
  }

  @Test
  void aStoppingLeaderKeepsTheKeyMarkedStoppingAndAStoppingStandbyDoesNotClaimIt() throws Exception {
    LeadershipRecorder lb = new LeadershipRecorder();
    Registration a = register(exclusive(1), RegistrationListener.NONE);
    Registration b = register(exclusive(2), lb);
    a.markStopping().get(10, TimeUnit.SECONDS);
    assertThat(a.active()).isTrue();
    assertThat(leader().session().stopping()).isTrue();
    b.markStopping().get(10, TimeUnit.SECONDS);
    a.closeAsync().get(10, TimeUnit.SECONDS);
    await().during(Duration.ofSeconds(1)).atMost(WAIT).until(() -> !b.active()
        && backend.discovery().leader(ROLE).handle((l, err) -> err != null).get(10, TimeUnit.SECONDS));
    assertThat(lb.calls).isEmpty();
  }

  @Test
  void aListenerThatThrowsDoesNotStopTheCampaign() throws Exception {
    Registration a = register(exclusive(1), RegistrationListener.NONE);
    Registration b = register(exclusive(2), new RegistrationListener() {
      @Override
      public void onLeadershipAcquired(Session session) {
        throw new IllegalStateException("listener bug");
      }
    });
    a.closeAsync().get(10, TimeUnit.SECONDS);
    await().atMost(WAIT).until(b::active);
    await().atMost(WAIT).until(() -> leaderId() == 2);
  }
}
