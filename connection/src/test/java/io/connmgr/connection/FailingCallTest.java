package io.connmgr.connection;

import io.connmgr.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;
import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.discovery.InMemoryRegistry;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** grpc-java's contract for refused calls: the listener is never called inside {@code start()}. */
@ExtendWith(LeakCheck.class)
class FailingCallTest {

  private static final MethodDescriptor<EchoRequest, EchoResponse> METHOD = EchoServiceGrpc.getEchoMethod();

  @Test
  void aRefusedCallClosesOnTheCallsExecutorAfterStartReturned() throws Exception {
    try (InMemoryRegistry registry = InMemoryRegistry.create()) {
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(registry).build());
      try {
        cm.start().get(5, TimeUnit.SECONDS);
        AtomicBoolean insideStart = new AtomicBoolean();
        CompletableFuture<String> closedOn = new CompletableFuture<>();
        CompletableFuture<Status> status = new CompletableFuture<>();
        Executor recording = r -> new Thread(r, "call-executor").start();
        ClientCall<EchoRequest, EchoResponse> call = cm.channel("querynode", 7).newCall(METHOD,
            CallOptions.DEFAULT.withExecutor(recording));
        Thread starter = Thread.currentThread();
        insideStart.set(true);
        call.start(new ClientCall.Listener<>() {
          @Override
          public void onClose(Status s, Metadata trailers) {
            // inside start() means on the starting thread before start() returned (another thread may run first)
            boolean inline = Thread.currentThread() == starter && insideStart.get();
            closedOn.complete(inline ? "inside start" : Thread.currentThread().getName());
            status.complete(s);
          }
        }, new Metadata());
        insideStart.set(false);
        assertThat(closedOn.get(5, TimeUnit.SECONDS)).isEqualTo("call-executor");
        assertThat(status.get().getDescription()).isEqualTo("querynode-7 is not a known server");

        // without an executor of its own, the manager's callback thread
        CompletableFuture<String> fallback = new CompletableFuture<>();
        cm.pick("querynode").newCall(METHOD, CallOptions.DEFAULT).start(new ClientCall.Listener<>() {
          @Override
          public void onClose(Status s, Metadata trailers) {
            fallback.complete(Thread.currentThread().getName() + ": " + s.getDescription());
          }
        }, new Metadata());
        assertThat(fallback.get(5, TimeUnit.SECONDS)).startsWith("connmgr-callback")
            .endsWith(": no available server of role querynode");

        // a direct executor would run it inside start(): the manager's callback thread delivers it instead
        CompletableFuture<String> direct = new CompletableFuture<>();
        AtomicBoolean inStart = new AtomicBoolean(true);
        cm.channel("querynode", 7).newCall(METHOD, CallOptions.DEFAULT.withExecutor(Runnable::run))
            .start(new ClientCall.Listener<>() {
              @Override
              public void onClose(Status s, Metadata trailers) {
                direct.complete(inStart.get() ? "inside start" : Thread.currentThread().getName());
              }
            }, new Metadata());
        inStart.set(false);
        assertThat(direct.get(5, TimeUnit.SECONDS)).startsWith("connmgr-callback");
      } finally {
        cm.close();
        assertThat(cm.awaitTermination(Duration.ofSeconds(10))).isTrue();
      }
    }
  }
}
