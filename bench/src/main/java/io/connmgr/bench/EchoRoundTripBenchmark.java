package io.connmgr.bench;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerKey;
import io.connmgr.connection.ServerState;
import io.connmgr.connection.internal.ServerEntry;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.testing.EchoServer;
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
 *   <li>{@code client=connmgr}, netty: {@code cm.channel("querynode", 1)} of a started {@link ConnectionManager} (its
 *       channel is a pooled Netty channel with connmgr's call tracking and {@code ServerID} header).
 *   <li>{@code client=connmgr}, inprocess: connmgr always builds Netty channels, so the same per-call path is composed
 *       over the in-process channel: a {@link ServerEntry}'s channel (refusal check, pool lookup in a Caffeine cache
 *       configured as the manager's, {@code CallTracker}, {@code ServerID} header).
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

  /** Through connmgr, or a raw grpc-java channel. */
  @Param({"connmgr", "raw"})
  public String client;

  private EchoServer nettyServer;
  private Server inProcessServer;
  private InMemoryRegistry registry;
  private ConnectionManager cm;
  private ManagedChannel channel;
  private EchoServiceGrpc.EchoServiceBlockingStub stub;
  private final EchoRequest request = EchoRequest.newBuilder().setMessage("ping").build();

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    if (transport.equals("netty")) {
      nettyServer = EchoServer.start(1, "querynode");
      if (client.equals("raw")) {
        channel = NettyChannelBuilder.forAddress(EchoServer.HOST, nettyServer.port()).usePlaintext().build();
        stub = EchoServiceGrpc.newBlockingStub(channel);
      } else {
        registry = InMemoryRegistry.create();
        registry.register(Session.builder("querynode", nettyServer.address()).serverId(1).build(),
            Duration.ofSeconds(60), RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
        cm = ConnectionManager.create(ConnectionOptions.builder(registry).dependsOn("querynode").build());
        cm.start().get(10, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (cm.serverState("querynode", 1) != ServerState.READY) {
          if (System.nanoTime() > deadline) {
            throw new IllegalStateException("querynode-1 not READY");
          }
          LockSupport.parkNanos(100_000);
        }
        stub = EchoServiceGrpc.newBlockingStub(cm.channel("querynode", 1));
      }
    } else {
      String name = "echo-" + System.nanoTime();
      inProcessServer = InProcessServerBuilder.forName(name).directExecutor().addService(new InProcessEcho())
          .build().start();
      channel = InProcessChannelBuilder.forName(name).directExecutor().build();
      if (client.equals("raw")) {
        stub = EchoServiceGrpc.newBlockingStub(channel);
      } else {
        Session s = Session.builder("querynode", "127.0.0.1:1").serverId(1).build();
        ServerKey key = ServerKey.of(s);
        Cache<ServerKey, ManagedChannel> pool = Caffeine.newBuilder().maximumSize(10_000)
            .expireAfterAccess(Duration.ofMinutes(30)).build();
        pool.put(key, channel);
        ServerEntry entry = new ServerEntry(key, s, e -> pool.get(e.key, k -> channel));
        stub = EchoServiceGrpc.newBlockingStub(entry.channel);
      }
    }
    stub.echo(request);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    if (cm != null) {
      cm.close();
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
    return stub.echo(request);
  }

  /** The echo service for the in-process server: answers at once on the calling thread. */
  static final class InProcessEcho extends EchoServiceGrpc.EchoServiceImplBase {
    private static final EchoResponse RESPONSE = EchoResponse.newBuilder().setMessage("ping").setServerId(1).build();

    @Override
    public void echo(EchoRequest request, StreamObserver<EchoResponse> observer) {
      observer.onNext(RESPONSE);
      observer.onCompleted();
    }
  }
}
