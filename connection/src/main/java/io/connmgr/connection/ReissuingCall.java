package io.connmgr.connection;

import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ClientStreamTracer;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.ArrayList;

/**
 * A call of a {@link RoleChannel}: started on one server of the role, and started again on another (an
 * <em>attempt</em> each) when its attempt ends before anything of the response reached the application and the
 * {@link ReissuePolicy} allows it: the server was removed or refused the call (connmgr failed the attempt), or the
 * attempt ended {@code UNAVAILABLE} or with a {@code CANCELLED} the application did not ask for. A method that is not
 * idempotent is re-issued only if the attempt never reached the server: a stream tracer tells whether its headers were
 * written, and grpc-java's transparent retry of a refused stream (REFUSED_STREAM, a GOAWAY that did not cover it)
 * clears that again. The first response header or message commits the call to its server.
 *
 * <p>Each attempt carries the application's metadata (a copy for the second and later ones) with the {@code ServerID}
 * of its server, the same request messages (kept by reference, released on commit), the same call options and so the
 * same deadline. The application sees the callbacks of one attempt only: its headers, messages and close.
 *
 * <p><b>Threading.</b> As any {@link ClientCall}: the application's methods are called one at a time. They and the
 * switch to a new attempt are serialised by this call's own lock, which is also held while an operation is handed to
 * the attempt's grpc-java call (so that a message sent during a switch is neither lost nor reordered); no callback of
 * the application ever runs under it. Attempts are failed by the manager's control thread ({@link #failFast}); the
 * decision to re-issue runs in the attempt's {@code onClose}, on the call's executor; nothing blocks.
 */
final class ReissuingCall<Q, R> extends ClientCall<Q, R> {

  private final RoleChannel channel;
  private final MethodDescriptor<Q, R> method;
  private final CallOptions options;
  private final boolean idempotent;

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
  private Server firstServer;
  private Server[] tried;
  private int attempts;

  private volatile Attempt current;
  private volatile boolean committed;

  ReissuingCall(RoleChannel channel, MethodDescriptor<Q, R> method, CallOptions options, boolean idempotent) {
    this.channel = channel;
    this.method = method;
    this.options = options;
    this.idempotent = idempotent;
  }

  @Override
  public void start(Listener<R> responseListener, Metadata requestHeaders) {
    Status refused = null;
    synchronized (this) {
      if (listener != null) {
        throw new IllegalStateException("already started");
      }
      listener = responseListener;
      headers = requestHeaders;
      Server s = channel.pick();
      firstServer = s;
      attempts = s == null ? 0 : 1;
      while (s != null) {
        if (launch(s, requestHeaders)) {
          return;
        }
        refused = s.refusal; // it refused the call as it was picked: never sent, so try another at once
        s = next();
      }
    }
    // no server can take it: fail at once (on the call's executor, never inside start)
    ClientCall<Q, R> none = refused != null ? FailingCall.of(refused, options, channel.host.callbacks())
        : channel.noServer(method, options);
    none.start(responseListener, requestHeaders);
  }

  @Override
  public void request(int numMessages) {
    synchronized (this) {
      requested += numMessages;
      Attempt a = current;
      if (a != null && a.live()) {
        try {
          a.call.request(numMessages);
        } catch (IllegalStateException e) {
          a.rethrowUnlessFailed(e);
        }
      }
    }
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
  }

  @Override
  public void halfClose() {
    synchronized (this) {
      halfClosed = true;
      Attempt a = current;
      if (a != null && a.live()) {
        try {
          a.call.halfClose();
        } catch (IllegalStateException e) {
          a.rethrowUnlessFailed(e);
        }
      }
    }
  }

  @Override
  public void sendMessage(Q message) {
    synchronized (this) {
      if (!committed && !overflow) {
        keep(message);
      }
      Attempt a = current;
      if (a != null && a.live()) {
        try {
          a.call.sendMessage(message);
        } catch (IllegalStateException e) {
          a.rethrowUnlessFailed(e);
        }
      }
    }
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
  }

  @Override
  public boolean isReady() {
    Attempt a = current;
    return a != null && a.call.isReady();
  }

  @Override
  public Attributes getAttributes() {
    Attempt a = current;
    return a != null ? a.call.getAttributes() : Attributes.EMPTY;
  }

  private void keep(Q message) {
    if (sentCount == 0) {
      first = message;
    } else if (sentCount < channel.policy.maxReplayMessages()) {
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

  /** The next server not tried yet, counted as an attempt; {@code null} if none or the attempts are spent. */
  private Server next() {
    if (attempts >= channel.policy.maxAttempts()) {
      return null;
    }
    if (tried == null) {
      tried = new Server[channel.policy.maxAttempts()];
      tried[0] = firstServer;
    }
    Server s = channel.pickOther(tried, attempts);
    if (s != null) {
      tried[attempts++] = s;
    }
    return s;
  }

  private Metadata copyOfHeaders() {
    Metadata h = new Metadata();
    h.merge(headers);
    return h;
  }

  /**
   * Starts an attempt on {@code s} and replays what the application did so far; false (nothing started) if the server
   * refuses calls or its channel cannot be opened.
   */
  private boolean launch(Server s, Metadata h) {
    if (s.refusal != null) {
      return false;
    }
    Attempt a = new Attempt(s);
    try {
      a.call = s.channel().newCall(method, idempotent ? options : options.withStreamTracerFactory(a.new Probe()));
    } catch (RuntimeException e) {
      return false;
    }
    h.discardAll(CallTracker.SERVER_ID);
    h.put(CallTracker.SERVER_ID, s.header());
    current = a;
    a.call.start(a, h);
    // replay before the attempt is tracked: once tracked, the control thread may cancel it at any moment
    if (compression != null) {
      a.call.setMessageCompression(compression);
    }
    if (requested > 0) {
      a.call.request(requested);
    }
    if (sentCount > 0) {
      a.call.sendMessage(first);
      if (more != null) {
        for (Q m : more) {
          a.call.sendMessage(m);
        }
      }
    }
    if (halfClosed) {
      a.call.halfClose();
    }
    if (cancelled) {
      a.call.cancel("cancelled before the call was re-issued", null);
      return true;
    }
    s.add(a);
    Status refuse = s.refusal;
    if (refuse != null) {
      a.failFast(refuse); // removed or stopping as it was tracked: its onClose re-issues it
    }
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

  /** The attempt {@code a} ended with {@code status}: re-issue it, or close the application's call. */
  private void closed(Attempt a, Status status, Metadata trailers) {
    Listener<R> l;
    synchronized (this) {
      if (a != current) {
        return;
      }
      if (!committed && !cancelled && reissue(a, status)) {
        return;
      }
      l = listener;
      first = null;
      more = null;
    }
    l.onClose(status, trailers);
  }

  /** Starts another attempt if {@code a}'s end allows it; false if the call must close with its status. */
  private boolean reissue(Attempt a, Status status) {
    Status.Code code = status.getCode();
    if (code != Status.Code.UNAVAILABLE && code != Status.Code.CANCELLED) {
      return false;
    }
    if (!idempotent && a.sent) {
      return false; // the server may have processed it
    }
    if (overflow || attempts >= channel.policy.maxAttempts()) {
      return false;
    }
    Deadline deadline = options.getDeadline();
    if (deadline != null && deadline.isExpired()) {
      return false;
    }
    boolean budgeted = false;
    for (Server s = next(); s != null; s = next()) {
      if (s.refusal != null) {
        continue;
      }
      if (!budgeted) {
        if (!channel.budget.tryWithdraw()) {
          channel.host.budgetExhausted(channel.role, a.server.key, method);
          return false;
        }
        budgeted = true;
      }
      if (launch(s, copyOfHeaders())) {
        channel.host.reissued(a.server.key, s.key, method, status);
        return true;
      }
    }
    return false;
  }

  /** One attempt: the grpc-java call on one server, its listener, and its entry in that server's call tracker. */
  final class Attempt extends ClientCall.Listener<R> implements CallTracker.Tracked {
    final Server server;
    ClientCall<Q, R> call;
    private volatile Status failure;
    /** The attempt's headers were written to the server and no transparent retry followed (non-idempotent only). */
    volatile boolean sent;
    private boolean ended;

    Attempt(Server server) {
      this.server = server;
    }

    /** Not failed by connmgr: the application's operations still go to it. */
    boolean live() {
      return failure == null;
    }

    /**
     * grpc-java's ClientCall is not thread-safe: after {@link #failFast} cancelled it from the control thread, an
     * operation the application was making at that moment may throw "call was cancelled"; it is dropped (the attempt
     * is ending, and what the application sent is replayed on the next one).
     */
    void rethrowUnlessFailed(IllegalStateException e) {
      if (failure == null) {
        throw e;
      }
    }

    @Override
    public boolean failFast(Status status) {
      synchronized (this) {
        if (failure != null || ended) {
          return false;
        }
        failure = status;
      }
      call.cancel(status.getDescription(), status.getCause());
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
      synchronized (this) {
        ended = true;
      }
      server.remove(this);
      Status f = failure;
      if (f != null) {
        closed(this, f, new Metadata());
      } else {
        closed(this, status, trailers);
      }
    }

    /** Watches the attempt's streams: whether its headers reached the server. */
    final class Probe extends ClientStreamTracer.Factory {
      private final ClientStreamTracer tracer = new ClientStreamTracer() {
        @Override
        public void outboundHeaders() {
          sent = true;
        }
      };

      @Override
      public ClientStreamTracer newClientStreamTracer(ClientStreamTracer.StreamInfo info, Metadata h) {
        if (info.isTransparentRetry()) {
          sent = false; // grpc-java retries a stream the server refused or never saw: it was not processed
        }
        return tracer;
      }
    }
  }
}
