package io.connmgr.connection.internal;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;

/** A channel whose calls fail at once with one status (an unknown, removed or offline server). */
public final class FailingChannel extends Channel {

  private final Status status;
  private final String authority;

  public FailingChannel(Status status, String authority) {
    this.status = status;
    this.authority = authority;
  }

  @Override
  public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
    return failingCall(status);
  }

  @Override
  public String authority() {
    return authority;
  }

  /** A call that fails with {@code status} as soon as it is started. */
  public static <Q, R> ClientCall<Q, R> failingCall(Status status) {
    return new ClientCall<>() {
      @Override
      public void start(Listener<R> listener, Metadata headers) {
        listener.onClose(status, new Metadata());
      }

      @Override
      public void request(int numMessages) {}

      @Override
      public void cancel(String message, Throwable cause) {}

      @Override
      public void halfClose() {}

      @Override
      public void sendMessage(Q message) {}
    };
  }
}
