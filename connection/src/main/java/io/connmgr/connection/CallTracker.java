package io.connmgr.connection;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The calls in flight to one server instance (role, id, address), owned by one {@link ConnectionManager} or one
 * {@code session} resolver, so that they — and only they — can be failed at once with a status of our own when the
 * server goes. The one call tracker of connmgr: {@link ConnectionManager} channels attach a call when it starts,
 * {@code session:///} channels when grpc-java creates its stream on a server's transport (and again if grpc-java
 * re-creates the stream on another transport: the call moves, nothing is left behind).
 *
 * <p><b>Threading.</b> Thread-safe and lock-free; {@link #failAll} may run on any thread. Failing a call cancels it;
 * grpc-java then delivers {@code onClose(CANCELLED)} on the call's own executor, in order with its other callbacks, and
 * the tracker's listener wrapper replaces that status with ours. No listener is ever called inside {@code start()}.
 *
 * <p>It is a {@link Channel} only so that a manager's {@link Server} can be tracker and channel in one object (one
 * header less per idle server); a resolver's trackers are never handed out as channels.
 */
class CallTracker extends Channel {

  /** Milvus' header naming the server a call is meant for. */
  static final Metadata.Key<String> SERVER_ID = Metadata.Key.of("serverid", Metadata.ASCII_STRING_MARSHALLER);

  final ServerKey server;
  /** Created on the first call: an idle server costs no set. */
  private volatile Set<Tracked> calls;
  /** When non-null, new calls fail with this status (removed, stopping, offline, manager closed). */
  volatile Status refusal;
  private String header;

  CallTracker(ServerKey server) {
    this.server = server;
  }

  /**
   * {@code status} (UNAVAILABLE with a cause) saying in one line why the TLS handshake with {@code server} failed, if
   * that is why: grpc-java's own description of it ({@code io exception}, {@code ssl exception}) says nothing useful.
   */
  static Status explainTls(ServerKey server, Status status) {
    String tls = io.connmgr.discovery.internal.PemFiles.describeHandshakeFailure(status.getCause());
    return tls == null ? status : status.withDescription(server + ": " + tls);
  }

  /** Not a channel of its own: {@link Server} is. */
  @Override
  public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
    throw new UnsupportedOperationException("a call tracker of " + server + " is not a channel");
  }

  @Override
  public String authority() {
    return server.address();
  }

  /** Calls in flight. */
  int size() {
    Set<Tracked> c = calls;
    return c == null ? 0 : c.size();
  }

  /** The {@code ServerID} header value: the decimal id, made once. */
  String header() {
    String h = header;
    if (h == null) {
      h = Long.toString(server.serverId());
      header = h; // racy but benign: every thread computes the same string
    }
    return h;
  }

  /**
   * A call tracked here ended with {@code status} (not a status of connmgr's own fail-fast): the outlier detection of
   * a {@link Server}, the standby signal of an active-server tracker. Any thread; must be cheap and never block.
   */
  void outcome(Status status) {}

  /** Fails every call in flight with {@code status}; returns how many. */
  int failAll(Status status) {
    Set<Tracked> c = calls;
    if (c == null) {
      return 0;
    }
    int n = 0;
    for (Tracked call : c) {
      if (call.failFast(status)) {
        n++;
      }
    }
    return n;
  }

  /** A call tracked by this tracker from its start: what a {@link ConnectionManager} server channel does. */
  <Q, R> ClientCall<Q, R> track(ClientCall<Q, R> call) {
    TrackedCall<Q, R> t = new TrackedCall<>(this);
    t.delegate = call;
    return t;
  }

  private Set<Tracked> set() {
    Set<Tracked> c = calls;
    if (c == null) {
      synchronized (this) {
        c = calls;
        if (c == null) {
          c = ConcurrentHashMap.newKeySet();
          calls = c;
        }
      }
    }
    return c;
  }

  /** A call this tracker can fail: a {@link TrackedCall}, or one attempt of a role channel's call. */
  interface Tracked {
    /** Fails the call with {@code status} unless it already ended or was failed; true if this did it. */
    boolean failFast(Status status);
  }

  void add(Tracked call) {
    set().add(call);
  }

  void remove(Tracked call) {
    Set<Tracked> c = calls;
    if (c != null) {
      c.remove(call);
    }
  }

  /**
   * A call that belongs to at most one tracker at a time: the one given at construction (a server channel), or the
   * last one {@link #attach attached} (the server grpc-java created its stream on).
   */
  static final class TrackedCall<Q, R> extends ForwardingClientCall<Q, R> implements Tracked {
    private final CallTracker fixed;
    ClientCall<Q, R> delegate;
    private volatile CallTracker current;
    private volatile Status failure;
    private volatile boolean closed;

    TrackedCall(CallTracker fixed) {
      this.fixed = fixed;
    }

    @Override
    protected ClientCall<Q, R> delegate() {
      return delegate;
    }

    // grpc-java's ClientCall is not thread-safe and throws IllegalStateException("call was cancelled") on a message,
    // half-close or request after cancel(): once failFast has cancelled the call from the control thread, what the
    // application still sends is dropped (the call is ending with our status), never thrown back at it.

    @Override
    public void sendMessage(Q message) {
      try {
        delegate.sendMessage(message);
      } catch (IllegalStateException e) {
        rethrowUnlessFailed(e);
      }
    }

    @Override
    public void halfClose() {
      try {
        delegate.halfClose();
      } catch (IllegalStateException e) {
        rethrowUnlessFailed(e);
      }
    }

    @Override
    public void request(int numMessages) {
      try {
        delegate.request(numMessages);
      } catch (IllegalStateException e) {
        rethrowUnlessFailed(e);
      }
    }

    private void rethrowUnlessFailed(IllegalStateException e) {
      if (failure == null) {
        throw e;
      }
    }

    @Override
    public void start(Listener<R> listener, Metadata headers) {
      if (fixed != null) {
        headers.discardAll(SERVER_ID);
        headers.put(SERVER_ID, fixed.header());
        attach(fixed);
      }
      super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<R>(listener) {
        @Override
        public void onClose(Status status, Metadata trailers) {
          closed = true;
          CallTracker t = current;
          if (t != null) {
            t.remove(TrackedCall.this);
          }
          Status f = failure;
          if (f != null && !status.isOk()) {
            // our cancel ended it: our status says why; a call that had completed before the cancel keeps its OK
            super.onClose(f, new Metadata());
          } else {
            if (t != null) {
              t.outcome(status);
              if (status.getCode() == Status.Code.UNAVAILABLE && status.getCause() != null) {
                status = explainTls(t.server, status);
              }
            }
            super.onClose(status, trailers);
          }
        }
      }, headers);
      if (fixed != null) {
        // a removal between the caller's check and our registration must not miss this call
        Status refuse = fixed.refusal;
        if (refuse != null) {
          failFast(refuse);
        }
      }
    }

    /**
     * Moves this call to {@code tracker} (its stream now runs on that server's transport): it leaves the tracker it was
     * in, so a stream grpc-java re-creates elsewhere leaves nothing behind.
     */
    void attach(CallTracker tracker) {
      CallTracker previous = current;
      if (previous == tracker) {
        return;
      }
      current = tracker;
      if (previous != null) {
        previous.remove(this);
      }
      tracker.add(this);
      if (closed) {
        tracker.remove(this); // closed meanwhile: its onClose may have missed the new tracker
      }
    }

    @Override
    public boolean failFast(Status status) {
      synchronized (this) {
        if (failure != null || closed) {
          return false;
        }
        failure = status;
      }
      delegate.cancel(status.getDescription(), status.getCause());
      return true;
    }
  }
}
