package io.connmgr.bench;

import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.testservers.EchoServer;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
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
 * A unary {@code Echo} round trip (blocking stub, one small message) through connmgr beside a raw grpc-java channel,
 * over loopback Netty ({@code transport=netty}: a real {@link EchoServer}) and over grpc-java's in-process transport
 * ({@code transport=inprocess}: no network, so connmgr's own share of the call path shows).
 *
 * <ul>
 *   <li>{@code client=raw}: {@code NettyChannelBuilder.forAddress(...).usePlaintext()} or
 *       {@code InProcessChannelBuilder.forName(...)}.
 *   <li>{@code client=role} / {@code roleWrite}: {@code cm.roleChannel("querynode")} of the same manager, calling
 *       {@code Echo} (safe) / {@code Append} (not idempotent), with re-issue on (the default policy).
 *   <li>{@code client=connmgr}: {@code cm.channel("querynode", 1)} of a started {@link ConnectionManager} over an
 *       {@link InMemoryRegistry} holding that one session, with {@code dependsOn("querynode")} (connected before the
 *       measurement): a pooled channel with connmgr's refusal check, pool lookup, call tracking and {@code ServerID}
 *       header. netty: the manager's default channel factory (a Netty channel to the {@link EchoServer});
 *       inprocess: {@code channelFactory((key, session) -> InProcessChannelBuilder.forName(...).directExecutor()
 *       .build())}, the same channel as the raw variant's, built and owned by the manager's pool.
 * </ul>
 *
 * <p>The stub is built once per trial (the lookup itself is {@link LookupBenchmark}'s subject). Run with one and two
 * client threads (2 cores; the Netty server's event loops share them):
 * <pre>
 * java -jar bench/target/benchmarks.jar EchoRoundTripBenchmark -t 1 -prof gc
 * java -jar bench/target/benchmarks.jar EchoRoundTripBenchmark -t 2 -prof gc
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(1)
public class EchoRoundTripBenchmark {

  /** Netty over loopback, or grpc-java's in-process transport. */
  @Param({"netty", "inprocess"})
  public String transport;

  /**
   * Through connmgr ({@code connmgr}: one server's channel; {@code role}: the role channel, {@code Echo} (safe, so
   * re-issuable without a stream tracer); {@code roleWrite}: the role channel, {@code Append} (not idempotent: a
   * stream tracer tells whether it was sent)), or a raw grpc-java channel.
   */
  @Param({"connmgr", "role", "roleWrite", "raw"})
  public String client;

  private EchoServer nettyServer;
  private Server inProcessServer;
  private InMemoryRegistry registry;
  private ConnectionManager cm;
  private ManagedChannel channel;
  private EchoServiceGrpc.EchoServiceBlockingStub stub;
  private final EchoRequest request = EchoRequest.newBuilder().setMessage("ping").build();
  private boolean write;

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    String inProcessName = null;
    if (transport.equals("netty")) {
      nettyServer = EchoServer.start(1, "querynode");
    } else {
      inProcessName = "echo-" + System.nanoTime();
      inProcessServer = InProcessServerBuilder.forName(inProcessName).directExecutor()
          .addService(new InProcessEcho()).build().start();
    }
    if (client.equals("raw")) {
      channel = transport.equals("netty")
          ? NettyChannelBuilder.forAddress(EchoServer.HOST, nettyServer.port()).usePlaintext().build()
          : InProcessChannelBuilder.forName(inProcessName).directExecutor().build();
      stub = EchoServiceGrpc.newBlockingStub(channel);
    } else {
      registry = InMemoryRegistry.create();
      // in-process: the address is never dialled, the factory below builds the channel
      String address = transport.equals("netty") ? nettyServer.address() : "127.0.0.1:1";
      registry.kv().put(registry.layout().sessionKey("querynode", 1),
          SessionCodec.encode(Session.builder("querynode", address).serverId(1).build()));
      ConnectionOptions.Builder options = ConnectionOptions.builder(registry).dependsOn("querynode");
      if (transport.equals("inprocess")) {
        String name = inProcessName;
        options.channelFactory((key, session) -> InProcessChannelBuilder.forName(name).directExecutor().build());
      }
      cm = ConnectionManager.create(options.build());
      cm.start().get(10, TimeUnit.SECONDS);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while (cm.serverState("querynode", 1) != ServerState.READY) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("querynode-1 not READY");
        }
        LockSupport.parkNanos(100_000);
      }
      stub = EchoServiceGrpc.newBlockingStub(client.equals("connmgr") ? cm.channel("querynode", 1)
          : cm.roleChannel("querynode"));
    }
    write = client.equals("roleWrite");
    echo();
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
    if (channel != null) {
      channel.shutdownNow();
    }
    if (inProcessServer != null) {
      inProcessServer.shutdownNow();
    }
    if (nettyServer != null) {
      nettyServer.close();
    }
  }

  @Benchmark
  public EchoResponse echo() {
    return write ? stub.append(request) : stub.echo(request);
  }

  /** The echo service for the in-process server: answers at once on the calling thread. */
  static final class InProcessEcho extends EchoServiceGrpc.EchoServiceImplBase {
    private static final EchoResponse RESPONSE = EchoResponse.newBuilder().setMessage("ping").setServerId(1).build();

    @Override
    public void echo(EchoRequest request, StreamObserver<EchoResponse> observer) {
      observer.onNext(RESPONSE);
      observer.onCompleted();
    }

    @Override
    public void append(EchoRequest request, StreamObserver<EchoResponse> observer) {
      echo(request, observer);
    }
  }
}
