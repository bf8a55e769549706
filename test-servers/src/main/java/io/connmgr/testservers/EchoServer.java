package io.connmgr.testservers;

import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.connmgr.proto.StreamRequest;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real grpc-java server (Netty transport, plaintext, on {@code 127.0.0.1}) serving {@code
 * connmgr.test.v1.EchoService} and {@code grpc.health.v1.Health}, for connmgr's tests, demo and benchmarks.
 *
 * <ul>
 *   <li>{@code Echo} answers at once with the request's message, stamped with this server's id and name; {@code
 *       Append} does the same and counts itself ({@link #appends()}), a write a client must not duplicate.
 *   <li>{@code Stream} sends {@code count} responses {@code interval_millis} apart (the first at once) from a
 *       scheduler owned by the server, and stops when the client cancels.
 *   <li>{@code Hold} keeps the call open, with no thread blocked, until the client cancels it, {@code hold_millis}
 *       pass (then it answers like {@code Echo}) or the server stops; {@code hold_millis = 0} holds until cancelled.
 * </ul>
 *
 * <p>Every call's {@code serverid} header (ASCII, decimal, {@link #SERVER_ID_HEADER}) is checked as Milvus does: a
 * call carrying an id other than this server's is rejected with {@code FAILED_PRECONDITION} ("call meant for server X
 * reached server Y"); a call without the header is served. {@link #lastServerIdHeader()} reports the header of the
 * last {@code EchoService} call (health checks are checked but not recorded, so a background health checker does not
 * overwrite what a test wants to see).
 *
 * <p>Each server owns its Netty event loops (epoll when {@code netty-transport-native-epoll} is usable, else NIO)
 * and all handlers are non-blocking, run on those loops ({@code directExecutor}). {@link #kill()} closes the listening
 * socket and every connection at the TCP level, with no HTTP/2 GOAWAY or RST_STREAM first, so clients see exactly
 * what a crashed process leaves them: a dropped connection and {@code UNAVAILABLE} on every open call.
 * {@link #start(long, String, int)} with the old port brings "the same server" back on the same address.
 *
 * <p><b>Threading.</b> Thread-safe: every method may be called from any thread. {@link #stopGracefully()}, {@link
 * #kill()} and {@link #close()} are idempotent and block until the server has terminated (bounded).
 */
public final class EchoServer implements AutoCloseable {

  /** The {@code serverid} request header: the id of the server a call is meant for, in decimal. */
  public static final Metadata.Key<String> SERVER_ID_HEADER =
      Metadata.Key.of("serverid", Metadata.ASCII_STRING_MARSHALLER);

  /** The loopback address every echo server listens on. */
  public static final String HOST = "127.0.0.1";

  private static final Logger log = LoggerFactory.getLogger(EchoServer.class);
  private static final long GRACEFUL_TIMEOUT_MILLIS = 10_000;
  private static final long KILL_TIMEOUT_MILLIS = 5_000;

  private final long serverId;
  private final String serverName;
  private final HealthStatusManager health = new HealthStatusManager();
  private final ScheduledExecutorService scheduler;
  private final Set<HeldCall> holds = ConcurrentHashMap.newKeySet();
  private final AtomicLong callsServed = new AtomicLong();
  private final AtomicLong appends = new AtomicLong();
  private final AtomicLong inFlight = new AtomicLong();
  private final Consumer<String> onAppend;
  private final AtomicLong holdsStarted = new AtomicLong();
  private final EventLoopGroup bossGroup;
  private final EventLoopGroup workerGroup;
  /** The listening channel and every accepted connection, so {@link #kill()} can drop them like a crash. */
  private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final Server server;
  private final int port;
  private volatile String lastServerIdHeader;
  private volatile String lastClientCommonName;
  /** The share of EchoService calls failed with {@link #injected} (0: none). */
  private volatile double failShare;
  private volatile Status injected = Status.INTERNAL;

  /**
   * TLS for an echo server: its certificate chain and key (PEM), and optionally the CA whose client certificates it
   * requires (mutual TLS); {@code clientCa == null} asks for no client certificate.
   */
  public record Tls(java.nio.file.Path cert, java.nio.file.Path key, java.nio.file.Path clientCa) {
    /** Checks the two required files are given. */
    public Tls {
      Objects.requireNonNull(cert, "cert");
      Objects.requireNonNull(key, "key");
    }
  }

  private EchoServer(long serverId, String serverName, int requestedPort, Consumer<String> onAppend) {
    this(serverId, serverName, requestedPort, onAppend, null);
  }

  private EchoServer(long serverId, String serverName, int requestedPort, Consumer<String> onAppend, Tls tls) {
    if (requestedPort < 0 || requestedPort > 65_535) {
      throw new IllegalArgumentException("port out of range: " + requestedPort);
    }
    this.serverId = serverId;
    this.serverName = serverName == null ? "" : serverName;
    this.onAppend = onAppend;
    ScheduledThreadPoolExecutor executor = new ScheduledThreadPoolExecutor(1, r -> {
      Thread t = new Thread(r, "echo-server-" + serverId + "-scheduler");
      t.setDaemon(true);
      return t;
    });
    executor.setRemoveOnCancelPolicy(true);
    this.scheduler = executor;
    boolean epoll = Epoll.isAvailable();
    Supplier<IoHandlerFactory> ioHandlers = epoll ? EpollIoHandler::newFactory : NioIoHandler::newFactory;
    this.bossGroup = new MultiThreadIoEventLoopGroup(1,
        new DefaultThreadFactory("echo-server-" + serverId + "-boss", true), ioHandlers.get());
    this.workerGroup = new MultiThreadIoEventLoopGroup(Math.max(1, Runtime.getRuntime().availableProcessors()),
        new DefaultThreadFactory("echo-server-" + serverId + "-worker", true), ioHandlers.get());
    this.server = NettyServerBuilder.forAddress(new InetSocketAddress(HOST, requestedPort), credentials(tls))
        .bossEventLoopGroup(bossGroup)
        .workerEventLoopGroup(workerGroup)
        .channelFactory(() -> trackChildren(epoll ? new EpollServerSocketChannel() : new NioServerSocketChannel()))
        // Restarting on the port of a killed server must not fail on its TIME_WAIT connections.
        .withOption(ChannelOption.SO_REUSEADDR, true)
        // Handlers never block: run them on the event loop.
        .directExecutor()
        // Clients under test may ping aggressively; do not answer them with GOAWAY(too_many_pings).
        .permitKeepAliveTime(1, TimeUnit.SECONDS)
        .permitKeepAliveWithoutCalls(true)
        .addService(new EchoService())
        .addService(health.getHealthService())
        .intercept(new ServerIdInterceptor())
        .build();
    health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
    health.setStatus(EchoServiceGrpc.SERVICE_NAME, ServingStatus.SERVING);
    try {
      server.start();
    } catch (IOException | RuntimeException e) {
      server.shutdownNow();
      releaseResources();
      if (e instanceof IOException io) {
        throw new UncheckedIOException("cannot start echo server " + serverId + " on " + HOST + ":"
            + requestedPort, io);
      }
      throw (RuntimeException) e;
    }
    this.port = server.getPort();
    log.debug("echo server {} ({}) listening on {} ({})", serverId, this.serverName, address(),
        epoll ? "epoll" : "nio");
  }

  private static io.grpc.ServerCredentials credentials(Tls tls) {
    if (tls == null) {
      return io.grpc.InsecureServerCredentials.create();
    }
    try {
      io.grpc.TlsServerCredentials.Builder b = io.grpc.TlsServerCredentials.newBuilder()
          .keyManager(tls.cert().toFile(), tls.key().toFile());
      if (tls.clientCa() != null) {
        b.trustManager(tls.clientCa().toFile()).clientAuth(io.grpc.TlsServerCredentials.ClientAuth.REQUIRE);
      }
      return b.build();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the echo server's TLS files " + tls, e);
    }
  }

  /**
   * Starts a server with TLS on {@code 127.0.0.1:port} ({@code 0}: a free port); with {@link Tls#clientCa()} it
   * requires client certificates signed by that CA. Passing the port of a stopped server restarts it there, with the
   * certificate given now (a rotation).
   *
   * @throws UncheckedIOException if the server cannot bind or read its files
   */
  public static EchoServer start(long serverId, String serverName, int port, Tls tls) {
    return new EchoServer(serverId, serverName, port, null, Objects.requireNonNull(tls, "tls"));
  }

  /**
   * Starts a server on a free loopback port.
   *
   * @param serverId the id stamped on responses and expected in {@code serverid} headers
   * @param serverName the name stamped on responses
   * @throws UncheckedIOException if the server cannot bind
   */
  public static EchoServer start(long serverId, String serverName) {
    return start(serverId, serverName, 0);
  }

  /**
   * Starts a server on {@code 127.0.0.1:port}; {@code 0} picks a free port. Passing the port of a stopped server
   * restarts "the same server" on the same address.
   *
   * @throws UncheckedIOException if the server cannot bind (for example the port is in use)
   */
  public static EchoServer start(long serverId, String serverName, int port) {
    return new EchoServer(serverId, serverName, port, null);
  }

  /**
   * As {@link #start(long, String, int)}, and {@code onAppend} is given the message of each {@code Append} call as it
   * arrives (on the server's event loop: it must not block for long), so that a test can tell which writes reached
   * this server and whether one arrived twice.
   */
  public static EchoServer start(long serverId, String serverName, int port, Consumer<String> onAppend) {
    return new EchoServer(serverId, serverName, port, Objects.requireNonNull(onAppend, "onAppend"));
  }

  /**
   * From now on, fails {@code share} (0..1, at random) of the EchoService calls it receives with {@code status}, as a
   * faulty or standby server would; {@code 0} stops. For outlier detection and standby tests.
   */
  public void failCalls(double share, Status status) {
    if (share < 0 || share > 1) {
      throw new IllegalArgumentException("share must be in [0, 1]: " + share);
    }
    this.injected = Objects.requireNonNull(status, "status");
    this.failShare = share;
  }

  /** The port the server is (or was) bound to. */
  public int port() {
    return port;
  }

  /** {@code "127.0.0.1:<port>"}. */
  public String address() {
    return HOST + ":" + port;
  }

  /** The id this server stamps on responses and expects in {@code serverid} headers. */
  public long serverId() {
    return serverId;
  }

  /** The name this server stamps on responses. */
  public String serverName() {
    return serverName;
  }

  /** The number of {@code Hold} calls currently held open on this server. */
  public int inFlightHolds() {
    return holds.size();
  }

  /**
   * The number of {@code Hold} calls that reached this server since it started (a monotonic counter: a caller can
   * wait for its own call to arrive while other holds end concurrently).
   */
  public long holdsStarted() {
    return holdsStarted.get();
  }

  /** The number of {@code EchoService} calls that reached this server and have not ended yet. */
  public long inFlightCalls() {
    return inFlight.get();
  }

  /** The number of {@code Append} calls that reached this server (each one is a write: a test counts duplicates). */
  public long appends() {
    return appends.get();
  }

  /**
   * The number of {@code Echo}, {@code Append}, {@code Stream} and {@code Hold} calls this server completed
   * successfully.
   */
  public long callsServed() {
    return callsServed.get();
  }

  /**
   * The {@code serverid} header of the last {@code EchoService} call that reached this server (including one
   * rejected for carrying another server's id), or {@code null} if that call had none or there was no call yet.
   */
  public String lastServerIdHeader() {
    return lastServerIdHeader;
  }

  /** The CN of the client certificate of the last EchoService call over mutual TLS, or {@code null}. */
  public String lastClientCommonName() {
    return lastClientCommonName;
  }

  /** The health service's status manager: {@code SERVING} for {@code ""} and the echo service at start. */
  public HealthStatusManager health() {
    return health;
  }

  /** Whether the server is started and neither {@link #stopGracefully()} nor {@link #kill()} was called. */
  public boolean isRunning() {
    return !server.isShutdown();
  }

  /**
   * Stops accepting calls, lets in-flight calls finish (up to 10 seconds, after which the remaining ones are reset
   * as by {@link #kill()}) and waits for the server to terminate. Health turns {@code NOT_SERVING} first.
   */
  public void stopGracefully() {
    log.debug("echo server {} stopping gracefully", serverId);
    health.enterTerminalState();
    server.shutdown();
    if (!awaitTermination(GRACEFUL_TIMEOUT_MILLIS)) {
      log.warn("echo server {} did not finish its calls in {} ms; killing it", serverId, GRACEFUL_TIMEOUT_MILLIS);
      dropConnections();
      server.shutdownNow();
      awaitTermination(KILL_TIMEOUT_MILLIS);
    }
    releaseResources();
  }

  /**
   * Stops the server at once, as a crash would: the listening socket and every connection are closed at the TCP
   * level without any HTTP/2 goodbye, so clients see the connection drop and their open calls fail with {@code
   * UNAVAILABLE}. Waits (bounded) until the port is released.
   */
  public void kill() {
    log.debug("echo server {} killed", serverId);
    health.enterTerminalState();
    dropConnections();
    server.shutdownNow();
    if (!awaitTermination(KILL_TIMEOUT_MILLIS)) {
      log.warn("echo server {} did not terminate within {} ms of shutdownNow", serverId, KILL_TIMEOUT_MILLIS);
    }
    releaseResources();
  }

  /** {@link #kill()}s the server if it is running; idempotent. */
  @Override
  public void close() {
    if (isRunning()) {
      kill();
    }
  }

  @Override
  public String toString() {
    return "EchoServer{id=" + serverId + ", name=" + serverName + ", address=" + address() + ", running="
        + isRunning() + "}";
  }

  private boolean awaitTermination(long timeoutMillis) {
    try {
      return server.awaitTermination(timeoutMillis, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      server.shutdownNow();
      return server.isTerminated();
    }
  }

  /** Once the server is gone: stop the scheduler and event loops; forget holds that died with their transport. */
  private void releaseResources() {
    scheduler.shutdownNow();
    for (HeldCall hold : holds) {
      hold.abandon();
    }
    bossGroup.shutdownGracefully(0, KILL_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
    workerGroup.shutdownGracefully(0, KILL_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
    if (!bossGroup.terminationFuture().awaitUninterruptibly(KILL_TIMEOUT_MILLIS)
        || !workerGroup.terminationFuture().awaitUninterruptibly(KILL_TIMEOUT_MILLIS)) {
      log.warn("echo server {}: event loops did not terminate within {} ms", serverId, KILL_TIMEOUT_MILLIS);
    }
  }

  /**
   * Closes the listening socket and every connection below the pipeline. A pipeline close (or {@code
   * server.shutdownNow()}) would go through grpc's HTTP/2 handler, which first sends GOAWAY and RST_STREAM(CANCEL):
   * clients would report CANCELLED instead of the UNAVAILABLE a crashed process leaves them.
   */
  private void dropConnections() {
    List<Future<?>> closed = new ArrayList<>();
    for (Channel channel : channels) {
      closed.add(channel.closeFuture());
      channel.eventLoop().execute(() -> channel.unsafe().close(channel.unsafe().voidPromise()));
    }
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(KILL_TIMEOUT_MILLIS);
    for (Future<?> future : closed) {
      long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
      if (!future.awaitUninterruptibly(Math.max(0, left))) {
        log.warn("echo server {}: connections not closed within {} ms", serverId, KILL_TIMEOUT_MILLIS);
        return;
      }
    }
  }

  /** Adds the listening channel, and every connection it accepts, to {@link #channels}. */
  private ServerChannel trackChildren(ServerChannel serverChannel) {
    channels.add(serverChannel);
    // Added before ServerBootstrap's acceptor, so it sees each accepted child channel first.
    serverChannel.pipeline().addLast(new ChannelInboundHandlerAdapter() {
      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof Channel child) {
          channels.add(child);
        }
        ctx.fireChannelRead(msg);
      }
    });
    return serverChannel;
  }

  private EchoResponse response(String message) {
    return EchoResponse.newBuilder()
        .setMessage(message)
        .setServerId(serverId)
        .setServerName(serverName)
        .build();
  }

  private boolean schedule(Runnable task, long delayMillis) {
    try {
      scheduler.schedule(task, Math.max(0, delayMillis), TimeUnit.MILLISECONDS);
      return true;
    } catch (RejectedExecutionException e) {
      return false; // the server is stopping; its transports cancel the call
    }
  }

  private final class EchoService extends EchoServiceGrpc.EchoServiceImplBase {

    @Override
    public void echo(EchoRequest request, StreamObserver<EchoResponse> observer) {
      observer.onNext(response(request.getMessage()));
      observer.onCompleted();
      callsServed.incrementAndGet();
    }

    @Override
    public void append(EchoRequest request, StreamObserver<EchoResponse> observer) {
      appends.incrementAndGet();
      if (onAppend != null) {
        onAppend.accept(request.getMessage());
      }
      echo(request, observer);
    }

    @Override
    public void stream(StreamRequest request, StreamObserver<EchoResponse> observer) {
      ServerCallStreamObserver<EchoResponse> call = (ServerCallStreamObserver<EchoResponse>) observer;
      StreamedCall streamed = new StreamedCall(call, response(request.getMessage()), request.getCount(),
          Math.max(0, request.getIntervalMillis()));
      call.setOnCancelHandler(streamed::cancel);
      if (!schedule(streamed, 0)) {
        call.onError(Status.UNAVAILABLE.withDescription("echo server is stopping").asRuntimeException());
      }
    }

    @Override
    public void hold(HoldRequest request, StreamObserver<EchoResponse> observer) {
      ServerCallStreamObserver<EchoResponse> call = (ServerCallStreamObserver<EchoResponse>) observer;
      HeldCall hold = new HeldCall(call, response(request.getMessage()));
      call.setOnCancelHandler(hold::abandon);
      holds.add(hold);
      holdsStarted.incrementAndGet();
      if (request.getHoldMillis() > 0) {
        hold.timer = scheduleCompletion(hold, request.getHoldMillis());
      }
    }

    private ScheduledFuture<?> scheduleCompletion(HeldCall hold, long delayMillis) {
      try {
        return scheduler.schedule(hold::complete, delayMillis, TimeUnit.MILLISECONDS);
      } catch (RejectedExecutionException e) {
        hold.abandon();
        return null;
      }
    }
  }

  /** One {@code Stream} call: one scheduler task per response, so the observer is only used by one thread. */
  private final class StreamedCall implements Runnable {
    private final ServerCallStreamObserver<EchoResponse> call;
    private final EchoResponse response;
    private final int count;
    private final long intervalMillis;
    private int sent;
    private volatile boolean cancelled;

    StreamedCall(ServerCallStreamObserver<EchoResponse> call, EchoResponse response, int count,
        long intervalMillis) {
      this.call = call;
      this.response = response;
      this.count = count;
      this.intervalMillis = intervalMillis;
    }

    void cancel() {
      cancelled = true;
    }

    @Override
    public void run() {
      if (cancelled || call.isCancelled()) {
        return;
      }
      try {
        if (sent < count) {
          call.onNext(response);
          sent++;
        }
        if (sent >= count) {
          call.onCompleted();
          callsServed.incrementAndGet();
        } else if (!schedule(this, intervalMillis)) {
          cancelled = true;
        }
      } catch (RuntimeException e) {
        // The call was cancelled between the check and the send: nothing left to do.
        log.debug("echo server {}: stream ended early: {}", serverId, e.toString());
      }
    }
  }

  /**
   * One {@code Hold} call. Membership in {@link #holds} is the single "still open" flag: whoever removes it (timer,
   * cancellation, server stop) ends the hold, exactly once.
   */
  private final class HeldCall {
    private final ServerCallStreamObserver<EchoResponse> call;
    private final EchoResponse response;
    private volatile ScheduledFuture<?> timer;

    HeldCall(ServerCallStreamObserver<EchoResponse> call, EchoResponse response) {
      this.call = call;
      this.response = response;
    }

    /** {@code hold_millis} passed: answer and complete. */
    void complete() {
      if (!holds.remove(this)) {
        return;
      }
      try {
        call.onNext(response);
        call.onCompleted();
        callsServed.incrementAndGet();
      } catch (RuntimeException e) {
        log.debug("echo server {}: hold ended early: {}", serverId, e.toString());
      }
    }

    /** Cancelled by the client, or the server stopped: forget the call without answering. */
    void abandon() {
      if (holds.remove(this)) {
        ScheduledFuture<?> t = timer;
        if (t != null) {
          t.cancel(false);
        }
      }
    }
  }

  private static String commonName(javax.net.ssl.SSLSession ssl) {
    try {
      java.security.cert.Certificate[] peer = ssl.getPeerCertificates();
      String dn = ((java.security.cert.X509Certificate) peer[0]).getSubjectX500Principal().getName();
      for (String part : dn.split(",")) {
        if (part.startsWith("CN=")) {
          return part.substring(3);
        }
      }
      return dn;
    } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
      return null;
    }
  }

  /** Records and checks the {@code serverid} header (Milvus semantics). */
  private final class ServerIdInterceptor implements ServerInterceptor {

    @Override
    public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(ServerCall<ReqT, RespT> call, Metadata headers,
        ServerCallHandler<ReqT, RespT> next) {
      String header = headers.get(SERVER_ID_HEADER);
      if (EchoServiceGrpc.SERVICE_NAME.equals(call.getMethodDescriptor().getServiceName())) {
        lastServerIdHeader = header;
        javax.net.ssl.SSLSession ssl = call.getAttributes().get(io.grpc.Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (ssl != null) {
          lastClientCommonName = commonName(ssl);
        }
      }
      if (header != null && !isThisServer(header)) {
        call.close(Status.FAILED_PRECONDITION.withDescription(
            "call meant for server " + header + " reached server " + serverId), new Metadata());
        return new ServerCall.Listener<>() {};
      }
      if (!EchoServiceGrpc.SERVICE_NAME.equals(call.getMethodDescriptor().getServiceName())) {
        return next.startCall(call, headers);
      }
      double share = failShare;
      if (share > 0 && (share >= 1 || java.util.concurrent.ThreadLocalRandom.current().nextDouble() < share)) {
        call.close(injected, new Metadata());
        return new ServerCall.Listener<>() {};
      }
      inFlight.incrementAndGet();
      return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
        @Override
        public void onComplete() {
          inFlight.decrementAndGet();
          super.onComplete();
        }

        @Override
        public void onCancel() {
          inFlight.decrementAndGet();
          super.onCancel();
        }
      };
    }

    private boolean isThisServer(String header) {
      try {
        return Long.parseLong(header.trim()) == serverId;
      } catch (NumberFormatException e) {
        return false;
      }
    }
  }
}
