/** Servers for tests, the demo and benchmarks, without any test framework: a gRPC echo server and etcd processes. */
module io.connmgr.testservers {
  requires transitive io.connmgr.proto;
  requires transitive io.grpc;            // EchoServer.SERVER_ID_HEADER is a Metadata.Key
  requires transitive io.grpc.services;   // EchoServer.health() is a HealthStatusManager
  requires transitive jetcd.core;         // LocalEtcd.newClient() is a jetcd Client
  requires io.grpc.netty;
  requires io.grpc.stub;
  requires io.netty.common;
  requires io.netty.handler;              // SslContextBuilder for the TLS clients of LocalEtcd and EchoServer
  requires io.netty.transport;
  requires io.netty.transport.classes.epoll;
  requires java.net.http;                 // etcd /health polls
  requires org.slf4j;

  exports io.connmgr.testservers;
}
