package io.connmgr.connection;

import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ClientStreamTracer;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Arrays;

/**
 * A call that is started on one server of a role and started again on another (an <em>attempt</em> each) when its
 * attempt ends before anything of the response reached the application and the {@link ReissuePolicy} allows it: the
 * server was removed or refused the call (connmgr failed the attempt), or the attempt ended {@code UNAVAILABLE} or with
 * a {@code CANCELLED} the application did not ask for. A method that is not idempotent is re-issued only if the attempt
 * never reached the server: a stream tracer tells whether its headers were written, and grpc-java's transparent retry
 * of a refused stream (REFUSED_STREAM, a GOAWAY that did not cover it) clears that again. The first response header or
 * message commits the call to its server. Where the attempts go is the {@link Route}'s business: a
 * {@link RoleChannel} picks the server itself; a {@code session:///} channel lets its balancer pick, never one the
 * call tried already.
 *
 * <p>Each attempt carries the application's metadata (a copy for the second and later ones) with the {@code ServerID}
 * of its server, the same request messages (kept by reference, released on commit), the same call options and so the
 * same deadline. The application sees the callbacks of one attempt only: its headers, messages and close.
 *
 * <p><b>Threading.</b> As any {@link ClientCall}: the application's methods are called one at a time. They, the
 * switch to a new attempt and connmgr's cancel of an attempt ({@link Attempt#failFast}, from the control thread or a
 * resolver) are serialised by this call's own lock, which is also held while an operation is handed to the attempt's
 * grpc-java call: a message sent during a switch is neither lost nor reordered, and grpc-java's ClientCall, which is
 * not thread-safe, never sees a cancel and an operation at once. No callback of the application runs under the lock:
 * a close that comes inline (a direct executor) while it is held is delivered once it is released. The decision to
 * re-issue runs in the attempt's {@code onClose}, on the call's executor; nothing blocks.
 */
final class ReissuingCall<Q, R> extends ClientCall<Q, R> {

  /**
   * Marks a status that says no server can take the call (none left, or only servers it tried): such an end is never
   * re-issued, and after a re-issue the call ends with the status that caused it instead.
   */
  static final Throwable NO_SERVER = new Throwable("no server can take the call", null, false, false) {
    private static final long serialVersionUID = 1L;
  };

  /** Where the attempts of a call go. */
  interface Route {
    ReissuePolicy policy();

    RetryBudget budget();

    /**
     * The grpc-java call of the next attempt {@code a} of {@code call} (the call's tried servers are to be avoided),
     * its {@code ServerID} put in {@code h} when the server is known now; {@code null} if no server can take it.
     */
    <Q, R> ClientCall<Q, R> newCall(ReissuingCall<Q, R> call, ReissuingCall<Q, R>.Attempt a, CallOptions options,
        Metadata h);

    /** The attempt started and got what the application sent so far: track it on its server, if known now. */
    void track(ReissuingCall<?, ?>.Attempt a);

    /** A call that fails at once: no server can take it ({@code refused}: the status of one that refused it). */
    <Q, R> ClientCall<Q, R> noServer(MethodDescriptor<Q, R> method, CallOptions options, Status refused);

    /**
     * A call moved from {@code from} to {@code to} because of {@code cause} (either is {@code null} when not known:
     * a stream that never landed, or a balancer that has not picked yet).
     */
    void reissued(CallTracker from, CallTracker to, MethodDescriptor<?, ?> method, Status cause);

    /** A re-issue the budget refused. */
    void budgetExhausted(CallTracker from, MethodDescriptor<?, ?> method);
  }

  /** Whether {@code policy} lets a call of {@code method} that reached its server be sent again. */
  static boolean idempotent(ReissuePolicy policy, MethodDescriptor<?, ?> method) {
    return method.isIdempotent() || method.isSafe() || (!policy.idempotentMethods().isEmpty()
        && policy.idempotentMethods().contains(method.getFullMethodName()));
  }

  private final Route route;
  final MethodDescriptor<Q, R> method;
  private final CallOptions options;
  final boolean idempotent;

  // guarded by this
  private Listener<R> listener;
  private Metadata headers;
  private Q first;
  private ArrayList<Q> more;
  private int sentCount;
  private boolean overflow;
  private boolean halfClosed;
  private boolean cancelled;
  private int requested;
  private Boolean compression;
  private int attempts;
  /** The status that caused the last re-issue: the call ends with it if the next attempt finds no server. */
  private Status cause;

  /** The servers tried (a balancer's picker reads them on any thread): the first, then the others copy-on-write. */
  private volatile CallTracker firstTried;
  private volatile CallTracker[] moreTried;
  /** The attempt the application's operations go to (set as an attempt is launched). */
  private volatile Attempt current;
  /** The last attempt whose grpc-java call was started: the one {@link #isReady()} may ask. */
  private volatile Attempt started;
  private volatile boolean committed;
  /**
   * The application's {@code onClose}, when the attempt's close came inline (a direct executor) while this thread held
   * the call's lock: run as soon as the lock is released, never under it.
   */
  private volatile Runnable deferred;
  /** The caller's context: a call whose context is cancelled is never re-issued. */
  private final Context context;

  ReissuingCall(Route route, MethodDescriptor<Q, R> method, CallOptions options) {
    this.route = route;
    this.method = method;
    this.options = options;
    this.idempotent = idempotent(route.policy(), method);
    this.context = Context.current();
  }

  @Override
  public void start(Listener<R> responseListener, Metadata requestHeaders) {
    synchronized (this) {
      if (listener != null) {
        throw new IllegalStateException("already started");
      }
      listener = responseListener;
      headers = requestHeaders;
      if (launch(requestHeaders)) {
        deliverDeferred();
        return;
      }
    }
    // no server can take it: fail at once (on the call's executor, never inside start)
    route.noServer(method, options, cause).start(responseListener, requestHeaders);
  }

  // ------------------------------------------------------------------ the application's operations

  // Each operation goes, under the call's lock, to the current attempt unless connmgr failed it (Attempt.failFast
  // takes the same lock, so grpc-java's ClientCall never sees a cancel and an operation at once); what the attempt
  // missed is replayed on the next one.

  @Override
  public void request(int numMessages) {
    synchronized (this) {
      int r = requested + numMessages;
      requested = r < 0 ? Integer.MAX_VALUE : r; // request(Integer.MAX_VALUE) is common: saturate
      Attempt a = current;
      if (a != null && a.live()) {
        a.call.request(numMessages);
      }
    }
    deliverDeferred();
  }

  @Override
  public void cancel(String message, Throwable cause) {
    synchronized (this) {
      cancelled = true;
      Attempt a = current;
      if (a != null && a.live()) {
        a.call.cancel(message, cause);
      }
    }
    deliverDeferred();
  }

  @Override
  public void halfClose() {
    synchronized (this) {
      halfClosed = true;
      Attempt a = current;
      if (a != null && a.live()) {
        a.call.halfClose();
      }
    }
    deliverDeferred();
  }

  @Override
  public void sendMessage(Q message) {
    synchronized (this) {
      if (!committed && !overflow) {
        keep(message);
      }
      Attempt a = current;
      if (a != null && a.live()) {
        a.call.sendMessage(message);
      }
    }
    deliverDeferred();
  }

  @Override
  public void setMessageCompression(boolean enabled) {
    synchronized (this) {
      compression = enabled;
      Attempt a = current;
      if (a != null && a.live()) {
        a.call.setMessageCompression(enabled);
      }
    }
    deliverDeferred();
  }

  @Override
  public boolean isReady() {
    Attempt a = started;
    return a != null && a.call.isReady();
  }

  @Override
  public Attributes getAttributes() {
    Attempt a = started;
    return a != null ? a.call.getAttributes() : Attributes.EMPTY;
  }

  /** Runs the application's deferred {@code onClose}, once this thread no longer holds the call's lock. */
  private void deliverDeferred() {
    if (deferred == null || Thread.holdsLock(this)) {
      return;
    }
    Runnable r;
    synchronized (this) {
      r = deferred;
      deferred = null;
    }
    if (r != null) {
      r.run();
    }
  }

  private void keep(Q message) {
    if (sentCount == 0) {
      first = message;
    } else if (sentCount < route.policy().maxReplayMessages()) {
      if (more == null) {
        more = new ArrayList<>(4);
      }
      more.add(message);
    } else {
      overflow = true; // a long client stream: it stays on its server
      first = null;
      more = null;
    }
    sentCount++;
  }

  // ------------------------------------------------------------------ for routes

  /** Whether another server may be tried: the attempts are not spent. */
  boolean canTryMore() {
    return attempts < route.policy().maxAttempts();
  }

  /** Counts {@code server} as tried by this call; it is never tried again. */
  void tried(CallTracker server) {
    if (firstTried == null) {
      firstTried = server; // the usual case, one server: no array
      return;
    }
    if (hasTried(server)) {
      return;
    }
    CallTracker[] t = moreTried;
    if (t == null) {
      t = new CallTracker[] {server};
    } else {
      t = Arrays.copyOf(t, t.length + 1);
      t[t.length - 1] = server;
    }
    moreTried = t;
  }

  /** Whether any server was tried yet. */
  boolean triedAny() {
    return firstTried != null;
  }

  /** Whether {@code server} was tried by this call; any thread. */
  boolean hasTried(CallTracker server) {
    if (firstTried == server) {
      return true;
    }
    CallTracker[] t = moreTried;
    if (t != null) {
      for (CallTracker c : t) {
        if (c == server) {
          return true;
        }
      }
    }
    return false;
  }

  /** Records the refusal of a server the route skipped (for the status of a call no server takes). */
  void refusedBy(Status refusal) {
    cause = refusal;
  }

  // ------------------------------------------------------------------ attempts

  /**
   * Starts the next attempt and replays what the application did so far; false (nothing started) if the route has no
   * server for it.
   */
  private boolean launch(Metadata h) {
    attempts++;
    Attempt a = new Attempt();
    ClientCall<Q, R> c = route.newCall(this, a, options, h);
    if (c == null) {
      return false;
    }
    a.call = c;
    current = a;
    c.start(a, h);
    started = a;
    // replay before the attempt is tracked: once tracked, another thread may cancel it at any moment
    if (compression != null) {
      c.setMessageCompression(compression);
    }
    if (requested > 0) {
      c.request(requested);
    }
    if (sentCount > 0) {
      c.sendMessage(first);
      if (more != null) {
        for (Q m : more) {
          c.sendMessage(m);
        }
      }
    }
    if (halfClosed) {
      c.halfClose();
    }
    if (cancelled) {
      c.cancel("cancelled before the call was re-issued", null);
      return true;
    }
    route.track(a);
    return true;
  }

  /** The response began: the call stays on its server; the kept request messages are released. */
  private void commit() {
    synchronized (this) {
      committed = true;
      first = null;
      more = null;
    }
  }

  /**
   * The attempt {@code a} ended with {@code status}: it leaves its server's tracker, and the call is re-issued or the
   * application's call is closed. A close that comes while this thread holds the call's lock (an attempt closed inline
   * by a direct executor inside one of our operations) is deferred until the lock is released.
   */
  private void closed(Attempt a, Status status, Metadata trailers) {
    boolean nested = Thread.holdsLock(this);
    Listener<R> l = null;
    synchronized (this) {
      a.end(); // under the call's lock: ordered after the track() of the launch that started it
      if (a != current) {
        return;
      }
      if (!committed && !cancelled && reissueSafely(a, status)) {
        return;
      }
      if (status.getCause() == NO_SERVER && cause != null) {
        status = cause; // re-issued, then no other server: end with what made us re-issue
        trailers = new Metadata();
      }
      l = listener;
      listener = null;
      headers = null;
      first = null;
      more = null;
      if (nested) {
        Listener<R> later = l;
        Status s = status;
        Metadata t = trailers;
        deferred = () -> later.onClose(s, t);
        return;
      }
    }
    l.onClose(status, trailers);
  }

  /** {@link #reissue}, and if starting the new attempt throws, the call ends with the status it had. */
  private boolean reissueSafely(Attempt a, Status status) {
    try {
      return reissue(a, status);
    } catch (RuntimeException e) {
      current = a;
      return false;
    }
  }

  /** Starts another attempt if {@code a}'s end allows it; false if the call must close with its status. */
  private boolean reissue(Attempt a, Status status) {
    Status.Code code = status.getCode();
    if (code != Status.Code.UNAVAILABLE && code != Status.Code.CANCELLED || status.getCause() == NO_SERVER) {
      return false;
    }
    if (!idempotent && a.sent) {
      return false; // the server may have processed it
    }
    if (overflow || !canTryMore()) {
      return false;
    }
    Deadline deadline = options.getDeadline();
    if (deadline != null && deadline.isExpired() || context.isCancelled()) {
      return false;
    }
    if (!route.budget().tryWithdraw()) {
      route.budgetExhausted(a.tracker, method);
      return false;
    }
    cause = status;
    Metadata h = new Metadata();
    h.merge(headers);
    if (launch(h)) {
      route.reissued(a.tracker, current.tracker, method, status);
      return true;
    }
    return false;
  }

  /** One attempt: the grpc-java call on one server, its listener, and its entry in that server's call tracker. */
  final class Attempt extends ClientCall.Listener<R> implements CallTracker.Tracked {
    ClientCall<Q, R> call;
    /** The server the attempt is on, once known (when picked, or when its stream lands). */
    volatile CallTracker tracker;
    private volatile Status failure;
    /** The attempt's headers were written to the server and no transparent retry followed (non-idempotent only). */
    volatile boolean sent;
    private boolean ended;

    /** Not failed by connmgr: the application's operations still go to it. */
    boolean live() {
      return failure == null;
    }

    /** The attempt ended: it leaves its server's tracker (called under the call's lock). */
    void end() {
      synchronized (this) {
        ended = true;
      }
      CallTracker t = tracker;
      if (t != null) {
        t.remove(this);
      }
    }

    /**
     * The attempt's stream now runs on {@code server}'s transport: it is tracked there (and no longer where it was).
     * Called inside grpc-java's stream creation, so it never cancels: a stream that lands on a server already removed
     * fails with that server's transport, unprocessed, and is re-issued.
     */
    void land(CallTracker server) {
      CallTracker previous = tracker;
      if (previous == server) {
        return;
      }
      tracker = server;
      tried(server);
      if (previous != null) {
        previous.remove(this);
      }
      server.add(this);
      synchronized (this) {
        if (ended) {
          server.remove(this); // closed meanwhile: its onClose may have missed the new tracker
        }
      }
    }

    /**
     * Cancels the attempt with {@code status} as its end (the control thread or the resolver, when its server goes).
     * Under the call's lock: grpc-java's ClientCall is not thread-safe, so the cancel never races an operation of the
     * application, nor the start and replay of a launch.
     */
    @Override
    public boolean failFast(Status status) {
      synchronized (ReissuingCall.this) {
        synchronized (this) {
          if (failure != null || ended) {
            return false;
          }
          failure = status;
        }
        call.cancel(status.getDescription(), status.getCause());
      }
      deliverDeferred();
      return true;
    }

    @Override
    public void onHeaders(Metadata h) {
      commit();
      listener.onHeaders(h);
    }

    @Override
    public void onMessage(R message) {
      if (!committed) {
        commit();
      }
      listener.onMessage(message);
    }

    @Override
    public void onReady() {
      if (current == this) {
        listener.onReady();
      }
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
      Status f = failure;
      if (f != null && !status.isOk()) {
        // our cancel ended it: our status says why; an attempt that had completed before the cancel keeps its OK
        closed(this, f, new Metadata());
      } else {
        CallTracker t = tracker;
        if (t != null) {
          t.outcome(status);
        }
        closed(this, status, trailers);
      }
      deliverDeferred();
    }

    /** A stream tracer factory that tells whether the attempt's headers reached a server. */
    ClientStreamTracer.Factory sentProbe() {
      return new Probe(null);
    }

    /**
     * A stream tracer factory that also lands the attempt on the server its stream is created on (found by
     * {@code serverOf} in the transport's attributes) and sends that server's {@code ServerID}.
     */
    ClientStreamTracer.Factory landingProbe(java.util.function.Function<Attributes, CallTracker> serverOf) {
      return new Probe(serverOf);
    }

    /** Watches the attempt's streams. */
    private final class Probe extends ClientStreamTracer.Factory {
      private final java.util.function.Function<Attributes, CallTracker> serverOf;

      Probe(java.util.function.Function<Attributes, CallTracker> serverOf) {
        this.serverOf = serverOf;
      }

      @Override
      public ClientStreamTracer newClientStreamTracer(ClientStreamTracer.StreamInfo info, Metadata h) {
        if (info.isTransparentRetry()) {
          sent = false; // grpc-java retries a stream the server refused or never saw: it was not processed
        }
        return new ClientStreamTracer() {
          @Override
          public void streamCreated(Attributes transportAttrs, Metadata streamHeaders) {
            CallTracker server = serverOf == null ? null : serverOf.apply(transportAttrs);
            if (server != null) {
              streamHeaders.discardAll(CallTracker.SERVER_ID);
              streamHeaders.put(CallTracker.SERVER_ID, server.header());
              land(server);
            }
          }

          @Override
          public void outboundHeaders() {
            sent = true;
          }
        };
      }
    }
  }
}
