package io.connmgr.connection;

import io.connmgr.discovery.Session;
import io.grpc.ManagedChannelBuilder;

/**
 * Customises each server's channel before it is built: TLS ({@code useTransportSecurity()}, or a Netty
 * {@code sslContext} after casting to {@code NettyChannelBuilder}), keepalive, extra interceptors, an executor. Called
 * on the thread that first needs the channel, outside every lock of the manager; must not block. The builder arrives
 * configured with the role's {@link ServerTls} (credentials and the verified name as authority) or else the options'
 * {@link ConnectionOptions#credentials() credentials} (plaintext by default); overriding either turns that off.
 */
@FunctionalInterface
public interface ChannelCustomizer {

  /** Leaves the builder as it is. */
  ChannelCustomizer NONE = (session, builder) -> {};

  /** Customises {@code builder}, the channel of {@code session}'s server. */
  void customize(Session session, ManagedChannelBuilder<?> builder);
}
