package io.connmgr.connection.internal;

import io.grpc.ClientCall;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * The calls in flight to one server, so that they can be failed at once with a status of our own. Thread-safe and
 * lock-free: calls register on start and leave on close.
 *
 * <p>Failing a call cancels the underlying call (grpc-java then delivers {@code onClose(CANCELLED)} on the call's own
 * executor, in order with its other callbacks) and replaces that CANCELLED with our UNAVAILABLE status on the way to
 * the application's listener.
 */
public final class CallTracker {

  /** Milvus' header naming the server a call is meant for. */
  public static final Metadata.Key<String> SERVER_ID =
      Metadata.Key.of("serverid", Metadata.ASCII_STRING_MARSHALLER);

  private final Set<TrackedCall<?, ?>> calls = ConcurrentHashMap.newKeySet();
  private final Supplier<Status> refusal;
  private final String serverId;

  /**
   * @param serverId the value of the {@code ServerID} header, or {@code null} for none
   * @param refusal  the status new calls must fail with now, or {@code null} while they may proceed
   */
  public CallTracker(String serverId, Supplier<Status> refusal) {
    this.serverId = serverId;
    this.refusal = refusal;
  }

  /** Calls in flight. */
  public int size() {
    return calls.size();
  }

  /** Wraps {@code call} so that it is tracked from start to close. */
  public <Q, R> ClientCall<Q, R> track(ClientCall<Q, R> call) {
    return new TrackedCall<>(call);
  }

  /** Fails every call in flight with {@code status}; returns how many. */
  public int failAll(Status status) {
    int n = 0;
    for (TrackedCall<?, ?> c : calls) {
      if (c.failFast(status)) {
        n++;
      }
    }
    return n;
  }

  private final class TrackedCall<Q, R> extends ForwardingClientCall.SimpleForwardingClientCall<Q, R> {
    private volatile Status failure;

    TrackedCall(ClientCall<Q, R> delegate) {
      super(delegate);
    }

    @Override
    public void start(Listener<R> listener, Metadata headers) {
      if (serverId != null) {
        headers.discardAll(SERVER_ID);
        headers.put(SERVER_ID, serverId);
      }
      calls.add(this);
      super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<R>(listener) {
        @Override
        public void onClose(Status status, Metadata trailers) {
          calls.remove(TrackedCall.this);
          Status f = failure;
          if (f != null) {
            super.onClose(f, new Metadata());
          } else {
            super.onClose(status, trailers);
          }
        }
      }, headers);
      // a removal that ran between the caller's check and our registration must not miss this call
      Status refuse = refusal.get();
      if (refuse != null) {
        failFast(refuse);
      }
    }

    boolean failFast(Status status) {
      synchronized (this) {
        if (failure != null) {
          return false;
        }
        failure = status;
      }
      delegate().cancel(status.getDescription(), status.getCause());
      return true;
    }
  }
}
