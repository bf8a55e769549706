package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryException;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Registration;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A registration on any {@link LeaseBackend}: grant, create-if-absent, keep alive; on loss, tell the listener and
 * register again with backoff. State changes run on a serial executor over the backend's scheduler.
 */
public final class SessionRegistration implements Registration {

  private static final Logger log = LoggerFactory.getLogger(SessionRegistration.class);

  private final LeaseBackend backend;
  private final KeyLayout layout;
  private final long ttlSeconds;
  private final RegistrationListener listener;
  private final Backoff backoff;
  private final SerialExecutor serial;

  // confined to serial
  private volatile Session session;
  private volatile boolean active;
  private AutoCloseable keepAlive;
  private long lease;
  private int attempt;
  private boolean closing;
  private CompletableFuture<Void> closed;

  private SessionRegistration(LeaseBackend backend, KeyLayout layout, Session template, long ttlSeconds,
      RegistrationListener listener, Backoff backoff) {
    this.backend = backend;
    this.layout = layout;
    this.ttlSeconds = ttlSeconds;
    this.listener = listener;
    this.backoff = backoff;
    this.serial = new SerialExecutor(backend.scheduler());
    this.session = template.withKey(layout.sessionKey(template.role(), template.serverId())).withStopping(false);
  }

  /** Registers {@code template}; the future completes once the key is created, or fails. */
  public static CompletableFuture<Registration> register(LeaseBackend backend, KeyLayout layout, Session template,
      long ttlSeconds, RegistrationListener listener, Backoff backoff) {
    SessionRegistration r = new SessionRegistration(backend, layout, template, ttlSeconds, listener, backoff);
    return r.attempt(0).thenApply(ok -> r);
  }

  @Override
  public Session session() {
    return session;
  }

  @Override
  public boolean active() {
    return active;
  }

  /** One registration attempt: grant, create. Completes on the serial executor. */
  private CompletableFuture<Void> attempt(long previousLease) {
    return backend.grant(ttlSeconds).thenComposeAsync(newLease -> {
      Session s = session.withLeaseId(newLease).withStopping(false);
      String activeKey = s.exclusive() ? layout.activeKey(s.role()) : null;
      return backend.create(s.key(), activeKey, SessionCodec.encode(s), newLease, previousLease)
          .thenComposeAsync(result -> {
            if (result == LeaseBackend.CreateResult.CONFLICT) {
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
            active = result == LeaseBackend.CreateResult.CREATED_ACTIVE;
            attempt = 0;
            long thisLease = newLease;
            keepAlive = backend.keepAlive(newLease, ttlSeconds,
                cause -> serial.execute(() -> onLost(thisLease, cause)));
            log.info("registered session {} at {} (lease {}{})", s, s.key(), Long.toHexString(newLease),
                active ? ", active" : "");
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
    closeQuietly(keepAlive);
    keepAlive = null;
    Session lost = session;
    try {
      listener.onSessionLost(lost, cause);
    } catch (Throwable t) {
      log.warn("registration listener threw in onSessionLost; ignored", t);
    }
    retry(lostLease);
  }

  private void retry(long previousLease) {
    if (closing) {
      return;
    }
    long delay = attempt == 0 ? 0 : backoff.delayNanos(attempt - 1);
    attempt++;
    backend.scheduler().schedule(() -> serial.execute(() -> {
      if (closing) {
        return;
      }
      attempt(previousLease).whenCompleteAsync((ok, err) -> {
        if (err == null) {
          try {
            listener.onSessionRestored(session);
          } catch (Throwable t) {
            log.warn("registration listener threw in onSessionRestored; ignored", t);
          }
        } else if (!closing) {
          log.debug("re-registration of {} failed: {}", session, err.toString());
          retry(previousLease);
        }
      }, serial);
    }), delay, TimeUnit.NANOSECONDS);
  }

  @Override
  public CompletableFuture<Void> stepDown() {
    // TODO(leader): stub, being implemented
    return CompletableFuture.failedFuture(new UnsupportedOperationException("stepDown() not implemented yet"));
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
    List<String> keys = new ArrayList<>(2);
    keys.add(s.key());
    if (active) {
      keys.add(layout.activeKey(s.role()));
    }
    return backend.put(keys, SessionCodec.encode(s), lease);
  }

  @Override
  public CompletableFuture<Void> closeAsync() {
    CompletableFuture<Void> done = new CompletableFuture<>();
    serial.execute(() -> {
      if (closed == null) {
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
      }
      closed.whenComplete((ok, err) -> complete(done, err));
    });
    return done;
  }

  private static void complete(CompletableFuture<Void> f, Throwable err) {
    if (err == null) {
      f.complete(null);
    } else {
      f.completeExceptionally(err);
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c != null) {
      try {
        c.close();
      } catch (Exception e) {
        log.debug("closing keep-alive failed", e);
      }
    }
  }
}
