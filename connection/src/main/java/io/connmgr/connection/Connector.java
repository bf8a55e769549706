package io.connmgr.connection;

import io.connmgr.discovery.internal.PemFiles;
import io.github.resilience4j.core.IntervalFunction;
import io.github.resilience4j.retry.Retry;
import io.github.resilience4j.retry.RetryConfig;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Connect episodes and connectivity: a bounded, jittered retry (resilience4j, the one backoff of the connection
 * layer) timed on the injected scheduler and measured with the injected ticker; each attempt has a timeout that is
 * cancelled when the attempt ends. It watches each pooled channel's connectivity: READY marks the server READY (and
 * restored, if it had been down), a lost connection marks it DOWN at once and starts an episode, an exhausted episode
 * marks it OFFLINE and stops grpc-java's own reconnect loop.
 *
 * <p>An attempt that ends in TRANSIENT_FAILURE learns why from a call made at once on the failed channel (grpc-java
 * fails it with the connection's error, without sending anything): a TLS failure (unknown CA, expired certificate,
 * name mismatch, client certificate required) is told in one line — a WARN per episode, the listener's
 * {@code connectFailed} cause, and the OFFLINE status of the server.
 *
 * <p><b>Threading.</b> Everything runs on the control executor; grpc-java's connectivity callbacks and the timers
 * only hand off to it. Listener calls go through {@link Notifier}, never under a lock.
 */
final class Connector {

  private static final Logger log = LoggerFactory.getLogger(Connector.class);

  private final ConnectionOptions options;
  private final ConnectionListener listener;
  private final Executor control;
  private final ScheduledExecutorService timers;
  private final ChannelPool pool;
  private final RetryConfig retryConfig;
  /** Told of every state change of a server, to publish its role. */
  private final Consumer<Server> changed;
  /** The default channel factory (for the TLS of a role, in messages), or {@code null}. */
  private final NettyChannelFactory netty;

  final LongAdder attempts = new LongAdder();
  final LongAdder failures = new LongAdder();
  final LongAdder retries = new LongAdder();
  private boolean closed;

  Connector(ConnectionOptions options, Executor control, ScheduledExecutorService timers, ChannelPool pool,
      Consumer<Server> changed, NettyChannelFactory netty) {
    this.options = options;
    this.netty = netty;
    this.listener = options.listener();
    this.control = control;
    this.timers = timers;
    this.pool = pool;
    this.changed = changed;
    RetryPolicy p = options.retry();
    this.retryConfig = RetryConfig.custom()
        .maxAttempts(p.maxAttempts())
        .intervalFunction(IntervalFunction.ofExponentialRandomBackoff(p.initialBackoff(), p.multiplier(), p.jitter(),
            p.maxBackoff()))
        .retryOnException(t -> true)
        .build();
  }

  /** No more episodes; pending attempts end. */
  void close() {
    closed = true;
  }

  /** The server is gone: its pending attempt ends (the episode with it). */
  void removed(Server e) {
    Server.Episode ep = e.episode;
    CompletableFuture<Void> pending = ep == null ? null : ep.pending;
    if (pending != null) {
      pending.completeExceptionally(new IllegalStateException(e.key + " removed"));
    }
  }

  /** Starts a connect episode unless one runs or the server is READY, STOPPING or REMOVED. */
  void start(Server e) {
    if (closed || e.episode != null || e.state == ServerState.REMOVED || e.state == ServerState.STOPPING
        || e.state == ServerState.READY) {
      return;
    }
    Server.Episode ep = new Server.Episode(options.ticker().getAsLong());
    e.episode = ep;
    if (e.state == ServerState.OFFLINE) {
      e.refuse(null);
    }
    if (e.state != ServerState.DOWN) {
      boolean wasPickable = e.state == ServerState.IDLE;
      e.state = ServerState.CONNECTING;
      if (!wasPickable) {
        changed.accept(e); // OFFLINE was not pickable, CONNECTING is
      }
    }
    Retry retry = Retry.of(e.key.toString(), retryConfig);
    retry.getEventPublisher().onRetry(ev -> retries.increment());
    Retry.decorateCompletionStage(retry, timers, () -> attempt(e, ep)).get()
        .whenCompleteAsync((ok, err) -> {
          if (e.episode == ep) {
            e.episode = null;
          }
          if (err != null && e.state != ServerState.REMOVED && e.state != ServerState.STOPPING
              && e.state != ServerState.READY) {
            offline(e, err);
          }
        }, control);
  }

  private void offline(Server e, Throwable failure) {
    Throwable err = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
        ? failure.getCause() : failure; // the attempt's own failure, not the future's wrapper
    int n = options.retry().maxAttempts();
    String tls = ConnectFailure.tlsOf(err);
    // the refusal first: whoever reads OFFLINE (serverState() reads the field) finds the calls refused with it
    e.refuse(Status.UNAVAILABLE.withDescription(e.key + " is offline after " + n + " connect attempt(s)"
        + (tls == null ? "" : ": " + tls)).withCause(err));
    e.state = ServerState.OFFLINE;
    e.wasDown = true;
    ManagedChannel ch = pool.ifPresent(e.key);
    if (ch != null) {
      ch.enterIdle(); // stop grpc-java's own reconnect loop: offline means no spinning
    }
    log.warn("server {} is offline after {} connect attempt(s): {}", e.key, n, String.valueOf(err.getMessage()));
    Notifier.run(() -> listener.offline(e.key));
    changed.accept(e);
  }

  /** One connect attempt; completes when READY, fails on TRANSIENT_FAILURE or after the attempt timeout. */
  private CompletableFuture<Void> attempt(Server e, Server.Episode ep) {
    CompletableFuture<Void> result = new CompletableFuture<>();
    control.execute(() -> {
      if (closed || e.state == ServerState.REMOVED || e.state == ServerState.STOPPING) {
        result.complete(null); // nothing more to do; the episode ends quietly
        return;
      }
      int n = ++ep.attempt;
      attempts.increment();
      Notifier.run(() -> listener.connectStarted(e.key, n));
      ep.pending = result;
      ManagedChannel ch;
      try {
        ch = pool.channel(e);
        if (ch.getState(false) == ConnectivityState.TRANSIENT_FAILURE) {
          // grpc-java keeps a failed channel in TRANSIENT_FAILURE while it retries on its own; start this attempt
          // from a fresh channel so that its outcome is seen and only our policy retries
          pool.discard(e.key, ch);
          ch = pool.channel(e);
        }
      } catch (RuntimeException failure) {
        result.completeExceptionally(failure);
        return;
      }
      if (ch.getState(true) == ConnectivityState.READY) {
        if (e.watched != ch) {
          watch(e, ch); // sees READY and marks the server
        } else {
          ready(e); // already connected (for example after Stopping was withdrawn)
        }
        result.complete(null);
        return;
      }
      long timeout = options.retry().attemptTimeout().toNanos();
      Future<?> t = timers.schedule(() -> result.completeExceptionally(new TimeoutException(
          "no connection to " + e.key.address() + " within " + options.retry().attemptTimeout().toMillis() + " ms")),
          timeout, TimeUnit.NANOSECONDS);
      ep.timeout = t;
    });
    return result.whenCompleteAsync((ok, err) -> {
      if (ep.pending == result) {
        ep.pending = null;
        Future<?> t = ep.timeout;
        ep.timeout = null;
        if (t != null) {
          t.cancel(false);
        }
      }
      if (err != null) {
        failures.increment();
        String tls = ConnectFailure.tlsOf(err);
        if (tls != null && !tls.equals(ep.tlsFailure)) {
          ep.tlsFailure = tls; // once per episode (and per different reason)
          log.warn("connect to {} failed: {}", e.key, tls);
        }
        int n = ep.attempt;
        Notifier.run(() -> listener.connectFailed(e.key, n, err));
      }
    }, control);
  }

  /** Watches {@code ch}, a channel the pool just opened for {@code e}. Control thread. */
  void watch(Server e, ManagedChannel ch) {
    if (e.state == ServerState.REMOVED) {
      return;
    }
    e.watched = ch;
    onConnectivity(e, ch);
  }

  /** The pool closed {@code ch} (idle): a READY or CONNECTING server becomes IDLE and reconnects on next use. */
  void evicted(Server e, ManagedChannel ch) {
    if (e.watched == ch && (e.state == ServerState.READY || e.state == ServerState.CONNECTING)) {
      e.state = ServerState.IDLE;
      e.watched = null;
      changed.accept(e);
    }
  }

  private void onConnectivity(Server e, ManagedChannel ch) {
    if (e.watched != ch || e.state == ServerState.REMOVED) {
      return;
    }
    ConnectivityState s = ch.getState(false);
    switch (s) {
      case READY -> ready(e);
      case TRANSIENT_FAILURE, IDLE -> {
        Server.Vitals v = e.vitals;
        if (v != null && v.unresponsive && e.state == ServerState.DOWN) {
          // a server a liveness probe declared down lost its connection too: reconnect as for any lost connection
          v.unresponsive = false;
          changed.accept(e);
          start(e);
        } else if (e.state == ServerState.READY) {
          // the connection dropped (process died, reset): down now, before the lease expires
          e.state = ServerState.DOWN;
          e.wasDown = true;
          log.info("server {} is down: connection lost", e.key);
          Notifier.run(() -> listener.down(e.key));
          changed.accept(e);
          start(e);
        } else if (s == ConnectivityState.TRANSIENT_FAILURE && e.episode != null && e.episode.pending != null) {
          diagnose(e, ch, e.episode.pending);
        }
      }
      case SHUTDOWN -> {
        return;
      }
      default -> { }
    }
    ch.notifyWhenStateChanged(s, () -> control.execute(() -> onConnectivity(e, ch)));
  }

  /**
   * Fails {@code pending} with why {@code ch}'s connection failed: a call on a channel in TRANSIENT_FAILURE fails at
   * once with the connection's error status (its cause the transport's exception) and sends nothing. A call that gets
   * anything but UNAVAILABLE reached a server: the channel's READY completes the attempt instead.
   */
  private void diagnose(Server e, ManagedChannel ch, CompletableFuture<Void> pending) {
    String base = "connection to " + e.key.address() + " failed";
    ClientCall<String, Integer> call;
    try {
      call = ch.newCall(HealthCodec.CHECK, CallOptions.DEFAULT.withExecutor(control)
          .withDeadlineAfter(options.retry().attemptTimeout().toNanos(), TimeUnit.NANOSECONDS));
      call.start(new ClientCall.Listener<>() {
        @Override
        public void onClose(Status status, Metadata trailers) {
          if (pending.isDone()) {
            return;
          }
          if (status.getCode() == Status.Code.UNAVAILABLE) {
            pending.completeExceptionally(failure(e, base, status));
          } else if (status.getCode() == Status.Code.DEADLINE_EXCEEDED) {
            pending.completeExceptionally(new ConnectFailure(base, null, null));
          }
        }
      }, new Metadata());
      call.sendMessage("");
      call.halfClose();
      call.request(1);
    } catch (RuntimeException x) {
      pending.completeExceptionally(new ConnectFailure(base, null, x));
    }
  }

  private ConnectFailure failure(Server e, String base, Status status) {
    Throwable cause = status.getCause();
    String tls = cause == null ? null : PemFiles.describeHandshakeFailure(cause);
    if (tls == null) {
      String d = status.getDescription();
      return new ConnectFailure(d == null ? base : base + ": " + d, null, cause != null ? cause : status.asException());
    }
    TlsReloader r = netty == null ? null : netty.tls(e.key.role());
    if (r != null) {
      ServerTls t = r.config();
      tls += " (verifying the name " + t.nameFor(e.session) + " against the CA in " + t.ca()
          + (t.cert() == null ? ", no client certificate configured" : "") + ")";
    }
    return new ConnectFailure(base + ": " + tls, tls, cause);
  }

  /** A failed connect attempt, with its TLS explanation when it was a TLS failure. */
  static final class ConnectFailure extends IllegalStateException {
    private static final long serialVersionUID = 1L;
    final transient String tls;

    ConnectFailure(String message, String tls, Throwable cause) {
      super(message, cause);
      this.tls = tls;
    }

    /** The one-line TLS explanation carried by {@code t} or a cause, or {@code null}. */
    static String tlsOf(Throwable t) {
      for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
        if (c instanceof ConnectFailure f) {
          return f.tls;
        }
      }
      return null;
    }
  }

  /** A server a liveness probe had declared down answers again over the same connection: READY (restored). */
  void revive(Server e) {
    if (e.state == ServerState.DOWN && e.episode == null) {
      ready(e);
    }
  }

  private void ready(Server e) {
    if (e.state != ServerState.STOPPING && e.state != ServerState.READY && e.state != ServerState.REMOVED) {
      boolean restored = e.wasDown;
      e.wasDown = false;
      e.state = ServerState.READY;
      e.refuse(null);
      Server.Episode ep = e.episode;
      long took = ep != null ? options.ticker().getAsLong() - ep.start : 0;
      Notifier.run(() -> listener.connectSucceeded(e.key, Duration.ofNanos(took)));
      if (restored) {
        log.info("server {} restored", e.key);
        Notifier.run(() -> listener.restored(e.key));
      }
      changed.accept(e);
    }
    Server.Episode ep = e.episode;
    if (ep != null && ep.pending != null) {
      ep.pending.complete(null);
    }
  }
}
