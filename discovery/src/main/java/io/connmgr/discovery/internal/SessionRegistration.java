package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryException;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Registration;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A registration on any {@link LeaseBackend}: grant, create-if-absent, keep alive; on loss, tell the listener and
 * register again with backoff.
 *
 * <p><b>Campaign (exclusive sessions).</b> Registering also takes the role's active key {@code <root><role>} if it is
 * free. A registration that did not get it watches it from the revision at which it was found held + 1 (so no
 * deletion after that read is missed) and, when it is deleted, claims it: one compare-and-put (version 0, then put
 * its session value on its own lease). The first claim to land wins; the winner becomes {@link #active()} and is told
 * {@link RegistrationListener#onLeadershipAcquired}, the others go on watching from their claim's revision + 1. The
 * active registration watches the key too: deleted, or put by another lease, it has lost the leadership
 * ({@link RegistrationListener#onLeadershipLost}) and campaigns again. A watch that ends by itself (etcd unreachable,
 * history compacted) is replaced by a claim after backoff, which reads the key's state again (and takes it if free).
 * Losing the lease loses the leadership, reported at once, before re-registration; re-registration campaigns again.
 * {@link #stepDown()} gives the key up and ends the campaign for the life of this registration (re-registrations
 * included). A Stopping session ({@link #markStopping()}) no longer claims the key: as a standby it only keeps
 * watching; if it leads, it keeps the key (re-put with {@code "Stopping":true}) until it closes or loses it.
 *
 * <p><b>Threading.</b> Every state change and every listener call runs on one {@link SerialExecutor} over the
 * backend's scheduler, never under a lock; a listener that throws is logged and ignored. Backend callbacks (jetcd /
 * Vert.x threads, the in-memory registry's lock holder) only hand work to that executor. A generation number discards
 * the callbacks of a watch, claim or timer that was abandoned. {@link #session()} and {@link #active()} are volatile
 * reads from any thread; {@link #stepDown()}, {@link #markStopping()} and {@link #closeAsync()} return at once and
 * complete on the serial executor. Closing stops the watch; nothing of the registration is left running after it.
 */
public final class SessionRegistration implements Registration {

  private static final Logger log = LoggerFactory.getLogger(SessionRegistration.class);

  private final LeaseBackend backend;
  private final KeyLayout layout;
  private final long ttlSeconds;
  private final RegistrationListener listener;
  private final Backoff backoff;
  private final SerialExecutor serial;
  /** The role's active key if the session is exclusive, else null. */
  private final String activeKey;

  // confined to serial
  private volatile Session session;
  private volatile boolean active;
  private AutoCloseable keepAlive;
  private long lease;
  private int attempt;
  private boolean closing;
  private CompletableFuture<Void> closed;

  // the campaign, confined to serial
  /** Bumped whenever the current watch, claim or timer is abandoned: their late callbacks are dropped. */
  private long campaign;
  private AutoCloseable watch;
  private int campaignAttempt;
  private CompletableFuture<LeaseBackend.Claim> claimInFlight;
  private boolean steppedDown;
  /** The active key may still be on our lease after {@link #stepDown()}: delete it (again on the next call). */
  private boolean releaseNeeded;
  private CompletableFuture<Void> releasing;

  private SessionRegistration(LeaseBackend backend, KeyLayout layout, Session template, long ttlSeconds,
      RegistrationListener listener, Backoff backoff) {
    this.backend = backend;
    this.layout = layout;
    this.ttlSeconds = ttlSeconds;
    this.listener = listener;
    this.backoff = backoff;
    this.serial = new SerialExecutor(backend.scheduler());
    this.session = template.withKey(layout.sessionKey(template.role(), template.serverId())).withStopping(false);
    this.activeKey = template.exclusive() ? layout.activeKey(template.role()) : null;
  }

  /** Registers {@code template}; the future completes once the key is created, or fails. */
  public static CompletableFuture<Registration> register(LeaseBackend backend, KeyLayout layout, Session template,
      long ttlSeconds, RegistrationListener listener, Backoff backoff) {
    SessionRegistration r = new SessionRegistration(backend, layout, template, ttlSeconds, listener, backoff);
    return r.attempt(0, false).thenApply(ok -> r);
  }

  @Override
  public Session session() {
    return session;
  }

  @Override
  public boolean active() {
    return active;
  }

  /**
   * One registration attempt: grant, create (with the active key unless stepped down); then the listener is told
   * (restored, acquired) and the campaign starts. Completes on the serial executor.
   */
  private CompletableFuture<Void> attempt(long previousLease, boolean restoring) {
    return backend.grant(ttlSeconds).thenComposeAsync(newLease -> {
      Session s = session.withLeaseId(newLease).withStopping(false);
      String takeActive = activeKey != null && !steppedDown ? activeKey : null;
      return backend.create(s.key(), takeActive, SessionCodec.encode(s), newLease, previousLease)
          .thenComposeAsync(created -> {
            if (created.result() == LeaseBackend.CreateResult.CONFLICT) {
              backend.revoke(newLease);
              return CompletableFuture.failedFuture(new DiscoveryException(
                  DiscoveryException.Code.ALREADY_REGISTERED, "key '" + s.key() + "' is held by another live lease"));
            }
            if (closing) {
              backend.revoke(newLease);
              return CompletableFuture.failedFuture(
                  new DiscoveryException(DiscoveryException.Code.CLOSED, "registration closed"));
            }
            lease = newLease;
            session = s;
            attempt = 0;
            long thisLease = newLease;
            keepAlive = backend.keepAlive(newLease, ttlSeconds,
                cause -> serial.execute(() -> onLost(thisLease, cause)));
            boolean tookActive = created.result() == LeaseBackend.CreateResult.CREATED_ACTIVE;
            if (tookActive && steppedDown) {
              // stepDown() came while this attempt was under way: give the key back at once
              releaseNeeded = true;
              backend.release(activeKey, newLease).whenCompleteAsync((ok, err) -> {
                if (err == null) {
                  releaseNeeded = false;
                }
              }, serial);
              tookActive = false;
            }
            log.info("registered session {} at {} (lease {}{})", s, s.key(), Long.toHexString(newLease),
                tookActive ? ", active" : takeActive != null ? ", standby" : "");
            if (restoring) {
              tell("onSessionRestored", () -> listener.onSessionRestored(s));
            }
            if (tookActive) {
              becomeActive(created.revision());
            }
            if (takeActive != null) {
              watchActiveKey(created.revision() + 1);
            }
            return CompletableFuture.<Void>completedFuture(null);
          }, serial);
    }, serial);
  }

  private void onLost(long lostLease, Throwable cause) {
    if (closing || lostLease != lease) {
      return;
    }
    log.warn("session {} lost its lease {}: {}; registering again", session, Long.toHexString(lostLease),
        String.valueOf(cause));
    stopCampaign();
    closeQuietly(keepAlive);
    keepAlive = null;
    Session lost = session;
    loseLeadership("lease " + Long.toHexString(lostLease) + " lost: " + cause);
    tell("onSessionLost", () -> listener.onSessionLost(lost, cause));
    retry(lostLease);
  }

  private void retry(long previousLease) {
    if (closing) {
      return;
    }
    long delay = attempt == 0 ? 0 : backoff.delayNanos(attempt - 1);
    attempt++;
    try {
      backend.scheduler().schedule(() -> serial.execute(() -> {
        if (closing) {
          return;
        }
        attempt(previousLease, true).whenCompleteAsync((ok, err) -> {
          if (err != null && !closing) {
            log.debug("re-registration of {} failed: {}", session, err.toString());
            retry(previousLease);
          }
        }, serial);
      }), delay, TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      log.debug("registry's scheduler is shut down; {} is not registered again", session);
    }
  }

  // ---------------------------------------------------------------- campaign (all on serial)

  private boolean campaigning() {
    return activeKey != null && !closing && !steppedDown && lease != 0;
  }

  /** Abandons the current watch, claim or timer. */
  private void stopCampaign() {
    campaign++;
    AutoCloseable w = watch;
    watch = null;
    closeQuietly(w);
  }

  /** Watches the active key from {@code fromRevision}; the key was seen (held by us or another) just before it. */
  private void watchActiveKey(long fromRevision) {
    stopCampaign();
    if (!campaigning()) {
      return;
    }
    long g = campaign;
    watch = backend.watch(activeKey, fromRevision, new LeaseBackend.KeyWatcher() {
      @Override
      public void onPut(long holder, long revision) {
        serial.execute(() -> onActivePut(g, holder, revision));
      }

      @Override
      public void onDelete(long revision) {
        serial.execute(() -> onActiveDeleted(g, revision));
      }

      @Override
      public void onEnded(Throwable cause) {
        serial.execute(() -> onWatchEnded(g, cause));
      }
    });
  }

  private void onActivePut(long g, long holder, long revision) {
    if (g != campaign || !campaigning()) {
      return;
    }
    if (holder == lease) {
      if (!active) {
        becomeActive(revision); // our own claim landed though its answer was lost
      }
      return; // our own re-put (Stopping)
    }
    if (active) {
      loseLeadership("active key " + activeKey + " taken by lease " + Long.toHexString(holder) + " at revision "
          + revision);
    }
    // another server leads: go on watching for its key's deletion
  }

  private void onActiveDeleted(long g, long revision) {
    if (g != campaign || !campaigning()) {
      return;
    }
    if (active) {
      loseLeadership("active key " + activeKey + " deleted at revision " + revision);
    }
    if (session.stopping()) {
      log.debug("active key {} deleted at revision {}; {} is stopping and does not claim it", activeKey, revision,
          session);
      return;
    }
    claim();
  }

  private void onWatchEnded(long g, Throwable cause) {
    if (g != campaign || !campaigning()) {
      return;
    }
    stopCampaign();
    if (session.stopping() && !active) {
      log.debug("watch of {} ended ({}); {} is stopping and campaigns no more", activeKey, cause, session);
      return;
    }
    log.debug("watch of {} ended ({}); reading it again", activeKey, String.valueOf(cause));
    claimLater();
  }

  private void claimLater() {
    long g = campaign;
    long delay = backoff.delayNanos(Math.min(campaignAttempt++, 30));
    try {
      backend.scheduler().schedule(() -> serial.execute(() -> {
        if (g == campaign && campaigning()) {
          claim();
        }
      }), delay, TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      log.debug("registry's scheduler is shut down; {} campaigns no more", session);
    }
  }

  /**
   * Create-if-absent of the active key with our current session on our lease; then watch it from the claim's
   * revision + 1, as the leader or as a standby.
   */
  private void claim() {
    stopCampaign();
    if (!campaigning()) {
      return;
    }
    long g = campaign;
    long myLease = lease;
    Session claimed = session;
    CompletableFuture<LeaseBackend.Claim> f = backend.claim(activeKey, SessionCodec.encode(claimed), myLease);
    claimInFlight = f;
    f.whenCompleteAsync((c, err) -> {
      if (claimInFlight == f) {
        claimInFlight = null;
      }
      if (g != campaign || !campaigning() || myLease != lease) {
        return;
      }
      if (err != null) {
        Throwable cause = EtcdSupport.unwrap(err);
        if (cause instanceof DiscoveryException d && d.code() == DiscoveryException.Code.SESSION_LOST) {
          onLost(myLease, cause); // the lease is gone: no need to wait for the keep-alive to say so
          return;
        }
        log.debug("claim of {} by {} failed: {}", activeKey, claimed, String.valueOf(cause));
        claimLater();
        return;
      }
      campaignAttempt = 0;
      if (c.acquired() || c.holderLease() == myLease) {
        if (!active) {
          becomeActive(c.revision());
        }
        Session now = session;
        if (now.stopping() && !claimed.stopping()) {
          // marked Stopping while the claim was under way: the active key says so too, as markStopping() does
          backend.put(List.of(activeKey), SessionCodec.encode(now), myLease);
        }
      } else if (active) {
        loseLeadership("active key " + activeKey + " held by lease " + Long.toHexString(c.holderLease())
            + " at revision " + c.revision());
      }
      watchActiveKey(c.revision() + 1);
    }, serial);
  }

  private void becomeActive(long revision) {
    if (active) {
      return;
    }
    active = true;
    Session s = session;
    log.info("session {} leads role {}: holds active key {} (revision {})", s, s.role(), activeKey, revision);
    tell("onLeadershipAcquired", () -> listener.onLeadershipAcquired(s));
  }

  private void loseLeadership(String reason) {
    if (!active) {
      return;
    }
    active = false;
    Session s = session;
    log.info("session {} no longer leads role {}: {}", s, s.role(), reason);
    tell("onLeadershipLost", () -> listener.onLeadershipLost(s, reason));
  }

  /**
   * {@inheritDoc}
   *
   * <p>On the serial executor: ends the campaign (closes the watch, abandons a claim), reports
   * {@code onLeadershipLost(session, "stepped down")} if active, then deletes the active key only if it is still on
   * this registration's lease (after a claim under way has landed). A later call retries a delete that failed.
   */
  @Override
  public CompletableFuture<Void> stepDown() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    serial.execute(() -> {
      if (!steppedDown) {
        steppedDown = true;
        boolean mayHold = active || claimInFlight != null;
        stopCampaign();
        loseLeadership("stepped down");
        releaseNeeded |= mayHold;
        if (activeKey != null) {
          log.info("session {} stepped down from role {}: campaigns no more", session, session.role());
        }
      }
      if (!releaseNeeded || closing || lease == 0) {
        done.complete(null);
        return;
      }
      if (releasing == null) {
        long myLease = lease;
        CompletableFuture<?> landed = claimInFlight == null ? CompletableFuture.completedFuture(null)
            : claimInFlight.handle((c, err) -> null);
        CompletableFuture<Void> r = new CompletableFuture<>();
        releasing = r;
        landed.thenCompose(x -> backend.release(activeKey, myLease)).whenCompleteAsync((deleted, err) -> {
          releasing = null;
          if (err == null) {
            releaseNeeded = false;
            log.debug("active key {} {} by {}", activeKey, deleted ? "deleted" : "was no longer held", session);
          }
          complete(r, err);
        }, serial);
      }
      releasing.whenComplete((ok, err) -> complete(done, err));
    });
    return done;
  }

  @Override
  public CompletableFuture<Void> markStopping() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    serial.execute(() -> markStoppingNow().whenComplete((ok, err) -> complete(done, err)));
    return done;
  }

  private CompletableFuture<Void> markStoppingNow() {
    if (session.stopping() || lease == 0) {
      return CompletableFuture.completedFuture(null);
    }
    Session s = session.withStopping(true);
    session = s;
    byte[] value = SessionCodec.encode(s);
    CompletableFuture<Void> own = backend.put(List.of(s.key()), value, lease);
    if (!active) {
      return own;
    }
    // the active key only while it is still ours: another server may have taken it before our watch said so
    String activeKey = layout.activeKey(s.role());
    return own.thenCompose(ok -> backend.putIfHeld(activeKey, value, lease)).thenAccept(held -> {
      if (!held) {
        log.debug("{} not marked Stopping: it is no longer held by {}", activeKey, s);
      }
    });
  }

  @Override
  public CompletableFuture<Void> closeAsync() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    serial.execute(() -> {
      if (closed == null) {
        stopCampaign();
        closed = markStoppingNow()
            .exceptionally(err -> null)
            .thenComposeAsync(ok -> {
              closing = true;
              closeQuietly(keepAlive);
              keepAlive = null;
              long l = lease;
              lease = 0;
              return l == 0 ? CompletableFuture.<Void>completedFuture(null) : backend.revoke(l);
            }, serial);
        closing = true;
        loseLeadership("closed");
      }
      closed.whenComplete((ok, err) -> complete(done, err));
    });
    return done;
  }

  private static void complete(CompletableFuture<Void> f, Throwable err) {
    if (err == null) {
      f.complete(null);
    } else {
      f.completeExceptionally(EtcdSupport.unwrap(err));
    }
  }

  /** Calls the listener; a listener that throws is logged and ignored. */
  private static void tell(String method, Runnable call) {
    try {
      call.run();
    } catch (Throwable t) {
      log.warn("registration listener threw in {}; ignored", method, t);
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c != null) {
      try {
        c.close();
      } catch (Exception e) {
        log.debug("closing a keep-alive or watch failed", e);
      }
    }
  }
}
