package io.connmgr.connection;

import io.connmgr.discovery.Session;
import io.grpc.ChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The default {@link ChannelFactory} of one manager: a Netty channel to the session's address with, per role, the
 * role's {@link ServerTls} (credentials whose key and trust managers follow the files, and the verified name as the
 * channel's authority) or else the options' {@link ConnectionOptions#credentials() credentials}; then the liveness
 * keepalive and the {@link ChannelCustomizer}. Owns one {@link TlsReloader} per distinct {@code ServerTls}.
 *
 * <p><b>Threading.</b> {@link #newChannel} on any thread, no I/O, no lock; {@link #start}/{@link #close} once each.
 */
final class NettyChannelFactory implements ChannelFactory, AutoCloseable {

  private final ConnectionOptions options;
  private final TlsReloader fallback;
  private final Map<String, TlsReloader> byRole;
  private final Map<ServerTls, TlsReloader> all = new IdentityHashMap<>();

  NettyChannelFactory(ConnectionOptions options) {
    this.options = options;
    ServerTls d = options.tls();
    this.fallback = d == null ? null : reloader(d, "every role");
    Map<String, TlsReloader> m = new java.util.HashMap<>();
    for (Map.Entry<String, ServerTls> e : options.roleTls().entrySet()) {
      m.put(e.getKey(), reloader(e.getValue(), "role " + e.getKey()));
    }
    this.byRole = Map.copyOf(m);
  }

  private TlsReloader reloader(ServerTls tls, String usedBy) {
    return all.computeIfAbsent(tls, t -> new TlsReloader(t, usedBy));
  }

  /** The TLS of {@code role}'s servers, or {@code null} for the options' credentials. */
  TlsReloader tls(String role) {
    TlsReloader r = byRole.get(role);
    return r != null ? r : fallback;
  }

  /** Starts checking the TLS files for change on {@code timers}. */
  void start(ScheduledExecutorService timers) {
    for (TlsReloader r : all.values()) {
      r.start(timers);
    }
  }

  @Override
  public void close() {
    for (TlsReloader r : all.values()) {
      r.close();
    }
  }

  @Override
  public ManagedChannel newChannel(ServerKey server, Session session) {
    TlsReloader tls = tls(server.role());
    ChannelCredentials creds = tls == null ? options.credentials() : tls.credentials();
    NettyChannelBuilder b = NettyChannelBuilder.forAddress(server.host(), server.port(), creds);
    if (tls != null) {
      // the name to verify is the authority: grpc-java checks the server's certificate against it (SNI too)
      b.overrideAuthority(tls.config().authorityFor(session, server.port()));
    }
    LivenessPolicy liveness = options.liveness();
    if (!liveness.keepAliveTime().isZero()) {
      b.keepAliveTime(liveness.keepAliveTime().toNanos(), TimeUnit.NANOSECONDS)
          .keepAliveTimeout(liveness.keepAliveTimeout().toNanos(), TimeUnit.NANOSECONDS);
    }
    options.customizer().customize(session, b);
    return b.build();
  }
}
