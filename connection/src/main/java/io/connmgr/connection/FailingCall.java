package io.connmgr.connection;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * A call that fails with one status as soon as it is started (an unknown, removed, stopping or offline server). As
 * grpc-java does, the listener's {@code onClose} runs on the call's executor ({@link CallOptions#getExecutor()}, the
 * blocking stub's own thread for blocking calls) or else on the manager's callback executor, never inside
 * {@code start()}: a direct executor that would run it inline is bypassed for the callback executor.
 */
final class FailingCall<Q, R> extends ClientCall<Q, R> {

  private final Status status;
  private final Executor executor;
  private final Executor fallback;
  /** The thread inside {@link #start}, while it is there. */
  private volatile Thread starting;

  private FailingCall(Status status, Executor executor, Executor fallback) {
    this.status = status;
    this.executor = executor;
    this.fallback = fallback;
  }

  /** A failing call for {@code options}, whose listener runs on its executor or else on {@code fallback}. */
  static <Q, R> ClientCall<Q, R> of(Status status, CallOptions options, Executor fallback) {
    Executor e = options.getExecutor();
    return new FailingCall<>(status, e != null ? e : fallback, fallback);
  }

  /** A channel whose every call fails with {@code status}. */
  static Channel channel(Status status, String authority, Executor fallback) {
    return new Channel() {
      @Override
      public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
        return of(status, options, fallback);
      }

      @Override
      public String authority() {
        return authority;
      }

      @Override
      public String toString() {
        return "failing channel (" + status + ")";
      }
    };
  }

  @Override
  public void start(Listener<R> listener, Metadata headers) {
    Runnable close = () -> listener.onClose(status, new Metadata());
    starting = Thread.currentThread();
    try {
      execute(executor, () -> {
        if (starting == Thread.currentThread()) {
          execute(fallback, close); // a direct executor: never call the application inside start()
        } else {
          close.run();
        }
      });
    } finally {
      starting = null;
    }
  }

  private static void execute(Executor on, Runnable task) {
    try {
      on.execute(task);
    } catch (RejectedExecutionException e) {
      // the manager is closed and its callback executor with it: deliver on a thread of our own making
      Thread t = new Thread(task, "connmgr-failed-call");
      t.setDaemon(true);
      t.start();
    }
  }

  @Override
  public void request(int numMessages) {}

  @Override
  public void cancel(String message, Throwable cause) {}

  @Override
  public void halfClose() {}

  @Override
  public void sendMessage(Q message) {}
}
