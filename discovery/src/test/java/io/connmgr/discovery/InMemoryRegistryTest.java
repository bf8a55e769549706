package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.SessionEvent.Cause;
import io.connmgr.discovery.SessionEvent.Type;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
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
    assertThat(registry.kv().get(r.session().key())).isPresent();
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
    assertThat(registry.kv().leases()).isEmpty();
  }

  @Test
  void expiredLeaseRemovesTheSessionWithLeaseExpired() throws Exception {
    RecordingListener l = new RecordingListener();
    registry.subscribe(l);
    long lease = registry.kv().grantLease(Duration.ofSeconds(3));
    registry.kv().put("by-dev/meta/session/querynode-3", SessionCodec.encode(qn(3)), lease);
    l.awaitEvent(e -> e.type() == Type.ADDED);
    now.addAndGet(Duration.ofSeconds(4).toNanos());
    registry.kv().expireLease(lease); // what the expiry timer does once the ticker passes the deadline
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
    registry.kv().expireLease(first);
    // the keep-alive runs every ttl/3 = 1s on the registry's thread and notices the lease is gone
    await().atMost(Duration.ofSeconds(10)).until(() -> calls.size() == 2);
    assertThat(calls.get(0)).isEqualTo("lost " + first);
    assertThat(r.session().leaseId()).isNotEqualTo(first);
    assertThat(calls.get(1)).isEqualTo("restored " + r.session().leaseId());
    assertThat(registry.kv().get(r.session().key())).isPresent();
    r.closeAsync().get(5, TimeUnit.SECONDS);
    assertThat(registry.kv().get(r.session().key())).isEmpty();
  }

  /**
   * A scheduler may run a task before {@code schedule} has returned its future (a pool thread that wins the race).
   * The keep-alive's first run must then still work: here the lease is already gone at that first run, which must reach
   * {@code onSessionLost} and a re-registration, not die silently.
   */
  @Test
  void keepAliveWhoseFirstRunComesBeforeScheduleReturnsStillReportsALostLease() throws Exception {
    ScheduledExecutorService pool = Executors.newSingleThreadScheduledExecutor();
    FirstRunInlineScheduler scheduler = new FirstRunInlineScheduler(pool);
    InMemoryRegistry reg = InMemoryRegistry.builder().scheduler(scheduler).build();
    try {
      List<String> calls = new CopyOnWriteArrayList<>();
      // the first task scheduled with no delay after this point is the keep-alive's first run: the lease is expired
      // just before it runs, inline, inside the scheduling call
      scheduler.arm(() -> reg.kv().leases().forEach(reg.kv()::expireLease));
      Registration r = reg.register(qn(6), Duration.ofSeconds(30), new RegistrationListener() {
        @Override
        public void onSessionLost(Session session, Throwable cause) {
          calls.add("lost " + session.leaseId() + " " + ((DiscoveryException) cause).code());
        }

        @Override
        public void onSessionRestored(Session session) {
          calls.add("restored " + session.leaseId());
        }
      }).get(5, TimeUnit.SECONDS);
      assertThat(scheduler.ranInline()).isTrue();
      // with a 30 s TTL the next keep-alive would come only 10 s later: the loss must be seen by the first run
      await().atMost(Duration.ofSeconds(5)).until(() -> calls.size() == 2);
      assertThat(calls.get(0)).startsWith("lost ").endsWith(" SESSION_LOST");
      assertThat(calls.get(1)).isEqualTo("restored " + r.session().leaseId());
      assertThat(reg.kv().get(r.session().key())).isPresent();
      assertThat(reg.kv().leases()).containsExactly(r.session().leaseId());
      r.closeAsync().get(5, TimeUnit.SECONDS);
    } finally {
      reg.close();
      pool.shutdownNow();
    }
  }

  /**
   * Delegates to a real scheduler, except that once armed, the next task scheduled with no initial delay runs at once
   * on the caller's thread (after the arming action), before {@code schedule}/{@code scheduleWithFixedDelay} returns,
   * as a pool thread winning the race would run it. A periodic task that throws is not run again, like
   * {@link java.util.concurrent.ScheduledThreadPoolExecutor} does.
   */
  private static final class FirstRunInlineScheduler extends AbstractExecutorService
      implements ScheduledExecutorService {
    private final ScheduledExecutorService delegate;
    private final AtomicReference<Runnable> armed = new AtomicReference<>();
    private volatile boolean ranInline;

    FirstRunInlineScheduler(ScheduledExecutorService delegate) {
      this.delegate = delegate;
    }

    void arm(Runnable beforeRun) {
      armed.set(beforeRun);
    }

    boolean ranInline() {
      return ranInline;
    }

    /** True (and the task has run) if this zero-delay task was the armed one. */
    private boolean runInline(Runnable command, long delay) {
      if (delay > 0) {
        return false;
      }
      Runnable before = armed.getAndSet(null);
      if (before == null) {
        return false;
      }
      before.run();
      ranInline = true;
      command.run();
      return true;
    }

    private ScheduledFuture<?> done() {
      ScheduledFuture<?> f = delegate.schedule(() -> { }, 1, TimeUnit.DAYS);
      f.cancel(false);
      return f;
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
      if (runInline(command, delay)) {
        return done();
      }
      return delegate.schedule(command, delay, unit);
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
      return delegate.schedule(callable, delay, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
      try {
        if (runInline(command, initialDelay)) {
          return delegate.scheduleAtFixedRate(command, period, period, unit);
        }
      } catch (RuntimeException e) {
        return done();
      }
      return delegate.scheduleAtFixedRate(command, initialDelay, period, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
      try {
        if (runInline(command, initialDelay)) {
          return delegate.scheduleWithFixedDelay(command, delay, delay, unit);
        }
      } catch (RuntimeException e) {
        return done();
      }
      return delegate.scheduleWithFixedDelay(command, initialDelay, delay, unit);
    }

    @Override
    public void execute(Runnable command) {
      delegate.execute(command);
    }

    @Override
    public void shutdown() {
      delegate.shutdown();
    }

    @Override
    public List<Runnable> shutdownNow() {
      return delegate.shutdownNow();
    }

    @Override
    public boolean isShutdown() {
      return delegate.isShutdown();
    }

    @Override
    public boolean isTerminated() {
      return delegate.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
      return delegate.awaitTermination(timeout, unit);
    }
  }

  @Test
  void serverIdsComeFromTheCounter() throws Exception {
    assertThat(registry.allocateServerId().get()).isEqualTo(1);
    assertThat(registry.allocateServerId().get()).isEqualTo(2);
    assertThat(registry.kv().get("by-dev/meta/session/id")).hasValueSatisfying(v -> assertThat(new String(v)).isEqualTo("2"));
  }

  @Test
  void exclusiveRoleTakesTheActiveKeyOnce() throws Exception {
    Session rc = Session.builder("rootcoord", "127.0.0.1:53100").serverId(1).exclusive(true).build();
    Registration a = registry.register(rc, Duration.ofSeconds(10), RegistrationListener.NONE).get();
    Registration b = registry.register(rc.withServerId(2), Duration.ofSeconds(10), RegistrationListener.NONE).get();
    assertThat(a.active()).isTrue();
    assertThat(b.active()).isFalse();
    assertThat(registry.kv().get("by-dev/meta/session/rootcoord")).isPresent();
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
      long lease = real.kv().grantLease(Duration.ofSeconds(1));
      real.kv().put("by-dev/meta/session/querynode-5", SessionCodec.encode(qn(5)), lease);
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
