/** JUnit 5 extensions for tests: etcd clusters ({@code EtcdCluster}) and a leak check ({@code LeakCheck}). */
module io.connmgr.testing {
  requires transitive io.connmgr.testservers;
  requires transitive org.junit.jupiter.api;
  requires transitive jetcd.core;         // EtcdCluster.newClient() is a jetcd Client
  requires io.grpc;                       // channelz, for the leak check
  requires awaitility;                    // automatic module (no Automatic-Module-Name)
  requires org.slf4j;
  requires org.bouncycastle.pkix;       // TestPki
  requires org.bouncycastle.provider;

  exports io.connmgr.testing;
}
