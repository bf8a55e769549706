package io.connmgr.connection;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.testservers.EchoServer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A server process for tests, as a Milvus node would be: starts an echo server and registers its session in etcd under
 * a short lease. Prints {@code READY <address>}. Arguments: etcdEndpoints role serverId ttlSeconds.
 */
public final class ServerProcessMain {
  private ServerProcessMain() {}

  public static void main(String[] args) throws Exception {
    EchoServer server = EchoServer.start(Long.parseLong(args[2]), args[1]);
    EtcdDiscovery etcd = EtcdDiscovery.builder().endpoints(args[0]).build();
    etcd.register(Session.builder(args[1], server.address()).serverId(Long.parseLong(args[2])).build(),
        Duration.ofSeconds(Long.parseLong(args[3])), RegistrationListener.NONE).get(30, TimeUnit.SECONDS);
    System.out.println("READY " + server.address());
    System.out.flush();
    new CountDownLatch(1).await();
  }
}
