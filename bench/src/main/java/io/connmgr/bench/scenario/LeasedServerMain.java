package io.connmgr.bench.scenario;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.testservers.EchoServer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A server process for the crash scenario, as a Milvus node is: an {@link EchoServer} whose session is registered in
 * etcd under a lease this process keeps alive, so a process killed or frozen stops renewing it. Prints
 * {@code READY <address>} once registered, then runs until killed.
 *
 * <p>Usage (started by {@link CrashScenario} through {@code ChildJvm}): {@code LeasedServerMain <etcdEndpoints> <root>
 * <role> <serverId> <ttlSeconds>}.
 */
public final class LeasedServerMain {

  private LeasedServerMain() {}

  /** Starts the server, registers its session and blocks until the process is killed. */
  public static void main(String[] args) throws Exception {
    long id = Long.parseLong(args[3]);
    EchoServer server = EchoServer.start(id, args[2]);
    EtcdDiscovery etcd = EtcdDiscovery.builder().endpoints(args[0].split(",")).root(args[1]).build();
    etcd.register(Session.builder(args[2], server.address()).serverId(id).build(),
        Duration.ofSeconds(Long.parseLong(args[4])), RegistrationListener.NONE).get(30, TimeUnit.SECONDS);
    System.out.println("READY " + server.address());
    System.out.flush();
    new CountDownLatch(1).await();
  }
}
