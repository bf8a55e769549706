/**
 * Session discovery: etcd, static cluster file and in-memory registry. Only {@code io.connmgr.discovery} is API; jetcd,
 * Vert.x and Netty stay inside (none of their types appears in an exported signature).
 */
module io.connmgr.discovery {
  requires jetcd.core;              // automatic module (no Automatic-Module-Name): name from the jar file
  requires jetcd.common;            // io.etcd.jetcd.common.exception
  requires io.grpc.stub;            // jetcd's keep-alive takes a StreamObserver
  requires io.netty.handler;        // SslContextBuilder, in the TLS configuration lambda handed to jetcd
  requires com.fasterxml.jackson.core;
  requires com.fasterxml.jackson.databind;
  requires org.slf4j;

  exports io.connmgr.discovery;
  exports io.connmgr.discovery.internal to io.connmgr.connection; // SerialExecutor, Threads
}
