/**
 * The connection manager and the {@code session} target for grpc-java. Only {@code io.connmgr.connection} is API: the
 * engine (server table, connector, channel pool, publisher, call tracker) is package-private inside it.
 */
module io.connmgr.connection {
  requires transitive io.connmgr.discovery;
  requires transitive io.grpc;
  requires io.grpc.internal;        // GrpcAttributes: the address group's attributes in a transport's attributes
  requires io.grpc.util;            // round_robin (the session balancer wraps it), forwarding helper and subchannel
  requires io.grpc.netty;           // the default channel factory
  requires com.github.benmanes.caffeine;
  requires io.github.resilience4j.core;
  requires io.github.resilience4j.retry;
  requires static micrometer.core;  // ConnectionMetrics; optional at run time
  requires org.slf4j;

  exports io.connmgr.connection;

  provides io.grpc.NameResolverProvider with io.connmgr.connection.SessionNameResolverProvider;
}
