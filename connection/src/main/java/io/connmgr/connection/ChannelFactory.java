package io.connmgr.connection;

import io.connmgr.discovery.Session;
import io.grpc.ManagedChannel;

/**
 * Builds the grpc-java channel of one server. The default (each manager's own) builds a Netty channel to the session's
 * address with the role's {@link ServerTls} (the verified name as the channel's authority; certificates re-read as
 * their files change) or else the configured {@link io.grpc.ChannelCredentials}, and then applies the
 * {@link ChannelCustomizer}; plug another to use another transport (in-process for tests and benchmarks, OkHttp, a
 * shaded Netty). A factory of your own is given the {@code session} (its {@code HostName}, labels) and must do its own
 * TLS: {@link ConnectionOptions.Builder#tls} is refused together with one.
 *
 * <p><b>Threading.</b> Called on whichever thread first needs the channel (a caller's, or the control thread for a
 * connect attempt), outside every lock of the manager. It must not block: in particular it must not resolve host
 * names itself (a channel resolves its target on grpc-java's own executor). If it throws, the calls that needed the
 * channel fail with {@code UNAVAILABLE} carrying the exception as their cause, and a connect attempt counts as failed.
 */
@FunctionalInterface
public interface ChannelFactory {

  /** A new channel to {@code server}, whose current session is {@code session}. */
  ManagedChannel newChannel(ServerKey server, Session session);
}
