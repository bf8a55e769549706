package io.connmgr.bench.scenario;

import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/** The echo calls the scenarios make. */
public final class Calls {

  private Calls() {}

  /**
   * Starts a {@code Hold} call that the server keeps open until it is cancelled; {@code onEnd} gets its final status
   * ({@code OK} if it completed) on grpc's thread. Returns the call, for {@link ClientCall#cancel}.
   *
   * @param deadlineMs the call's deadline; {@code 0} for none
   */
  public static ClientCall<HoldRequest, EchoResponse> hold(Channel ch, long deadlineMs, Consumer<Status> onEnd) {
    CallOptions o = deadlineMs > 0 ? CallOptions.DEFAULT.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS)
        : CallOptions.DEFAULT;
    ClientCall<HoldRequest, EchoResponse> call = ch.newCall(EchoServiceGrpc.getHoldMethod(), o);
    ClientCalls.asyncUnaryCall(call, HoldRequest.newBuilder().setMessage("hold").build(),
        new StreamObserver<>() {
          @Override
          public void onNext(EchoResponse value) {}

          @Override
          public void onError(Throwable t) {
            onEnd.accept(Status.fromThrowable(t));
          }

          @Override
          public void onCompleted() {
            onEnd.accept(Status.OK);
          }
        });
    return call;
  }

  /** A blocking {@code Echo}; its status ({@code OK} on success). */
  public static Status echo(Channel ch, long deadlineMs) {
    try {
      EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS)
          .echo(EchoRequest.newBuilder().setMessage("ping").build());
      return Status.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
  }
}
