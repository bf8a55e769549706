package io.connmgr.bench;

import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerState;
import io.connmgr.connection.SessionNameResolverProvider;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.ClientStreamTracer;
import io.grpc.ConnectivityState;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of connmgr's call interception alone: one unary call's life (newCall, start, request, sendMessage,
 * halfClose, then onClose delivered) on a no-op transport channel that completes every call at once, with no
 * network and no threads, so only the interception is measured:
 *
 * <ul>
 *   <li>{@code none}: the no-op channel itself (the baseline);
 *   <li>{@code call-tracker}: {@code cm.channel("querynode", 7)} of a started {@link ConnectionManager} over an
 *       {@link InMemoryRegistry} holding that one session, whose {@code channelFactory} returns the no-op channel —
 *       what {@code cm.channel(role, id)} does per call, through the public API only: refusal check, pooled channel
 *       lookup (the manager's Caffeine pool), call tracking (set add/remove, {@code ServerID} header, listener
 *       wrapper);
 *   <li>{@code session-failfast}: {@link SessionNameResolverProvider#interceptor()} over it — the {@code session://}
 *       channel's fail-fast interceptor; the no-op call creates the stream tracer and reports
 *       {@code streamCreated} with a remote address, as a transport does, so its per-stream bookkeeping is included.
 * </ul>
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar InterceptorBenchmark -prof gc}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class InterceptorBenchmark {

  /** What wraps the no-op channel. */
  @Param({"none", "call-tracker", "session-failfast"})
  public String interceptor;

  private InMemoryRegistry registry;
  private ConnectionManager cm;
  private Channel channel;
  private final EchoRequest request = EchoRequest.newBuilder().setMessage("ping").build();

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    NoopChannel noop = new NoopChannel();
    switch (interceptor) {
      case "none" -> channel = noop;
      case "call-tracker" -> {
        registry = InMemoryRegistry.create();
        Session s = Session.builder("querynode", "127.0.0.1:21123").serverId(7).build();
        registry.kv().put(registry.layout().sessionKey("querynode", 7), SessionCodec.encode(s));
        cm = ConnectionManager.create(ConnectionOptions.builder(registry).roles("querynode")
            .channelFactory((key, session) -> noop).build());
        cm.start().get(10, TimeUnit.SECONDS);
        channel = cm.channel("querynode", 7);
        call(); // opens the pooled (no-op) channel; the manager then sees it READY
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (cm.serverState("querynode", 7) != ServerState.READY) {
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("querynode-7 not READY");
          }
          LockSupport.parkNanos(100_000);
        }
      }
      case "session-failfast" -> {
        registry = InMemoryRegistry.create();
        channel = ClientInterceptors.intercept(noop, new SessionNameResolverProvider(registry).interceptor());
      }
      default -> throw new IllegalArgumentException(interceptor);
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() throws InterruptedException {
    if (cm != null) {
      cm.close();
      cm.awaitTermination(Duration.ofSeconds(10));
    }
    if (registry != null) {
      registry.close();
    }
  }

  @Benchmark
  public Status call() {
    ClientCall<EchoRequest, EchoResponse> call = channel.newCall(EchoServiceGrpc.getEchoMethod(), CallOptions.DEFAULT);
    Result r = new Result();
    call.start(r, new Metadata());
    call.request(1);
    call.sendMessage(request);
    call.halfClose();
    return r.status;
  }

  private static final class Result extends ClientCall.Listener<EchoResponse> {
    Status status;

    @Override
    public void onClose(Status s, Metadata trailers) {
      status = s;
    }
  }

  /**
   * A transport stand-in: each call "creates its stream" on start and closes OK on halfClose, synchronously. A
   * {@link ManagedChannel}, so that a manager's channel factory can hand it out: always READY, shutdown does nothing.
   */
  static final class NoopChannel extends ManagedChannel {
    private static final Attributes TRANSPORT = Attributes.newBuilder()
        .set(Grpc.TRANSPORT_ATTR_REMOTE_ADDR, new InetSocketAddress("127.0.0.1", 21123)).build();
    private static final ClientStreamTracer.StreamInfo INFO = ClientStreamTracer.StreamInfo.newBuilder().build();

    @Override
    public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
      return new ClientCall<>() {
        private Listener<R> listener;

        @Override
        public void start(Listener<R> l, Metadata headers) {
          listener = l;
          for (ClientStreamTracer.Factory f : options.getStreamTracerFactories()) {
            f.newClientStreamTracer(INFO, headers).streamCreated(TRANSPORT, headers);
          }
        }

        @Override
        public void request(int n) {}

        @Override
        public void cancel(String message, Throwable cause) {
          listener.onClose(Status.CANCELLED.withDescription(message), new Metadata());
        }

        @Override
        public void halfClose() {
          listener.onClose(Status.OK, new Metadata());
        }

        @Override
        public void sendMessage(Q message) {}
      };
    }

    @Override
    public String authority() {
      return "noop";
    }

    @Override
    public ManagedChannel shutdown() {
      return this;
    }

    @Override
    public boolean isShutdown() {
      return false;
    }

    @Override
    public boolean isTerminated() {
      return false;
    }

    @Override
    public ManagedChannel shutdownNow() {
      return this;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
      return true;
    }

    @Override
    public ConnectivityState getState(boolean requestConnection) {
      return ConnectivityState.READY;
    }

    @Override
    public void notifyWhenStateChanged(ConnectivityState source, Runnable callback) {
      // the state never changes
    }
  }
}
