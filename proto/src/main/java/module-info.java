/** The echo service's messages and gRPC stubs (generated), for connmgr's tests, demo and benchmarks. */
module io.connmgr.proto {
  // generated messages extend protobuf's classes, generated stubs extend grpc-java's: both are part of this API
  requires transitive com.google.protobuf;
  requires transitive com.google.common; // ListenableFuture in the future stub
  requires transitive io.grpc;
  requires transitive io.grpc.stub;
  requires transitive io.grpc.protobuf;

  exports io.connmgr.proto;
}
