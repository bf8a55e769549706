package io.connmgr.bench.scenario;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.Registration;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.testservers.EchoServer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A server process of the rolling-restart scenario, as a Milvus node is: an {@link EchoServer} whose session is
 * registered in etcd under a lease this process keeps alive. Prints {@code READY <address>} once registered, and
 * {@code A <message>} for each {@code Append} it receives (so the scenario can tell a write that never reached a server
 * from one executed twice). On the line {@code STOP <drainMillis>} on its standard input it restarts the way a
 * well-behaved server does: marks its session Stopping, waits until its calls in flight have ended (at most
 * {@code drainMillis}), deregisters (revokes its lease), prints {@code DEREGISTERED}, stops the server gracefully and
 * exits.
 *
 * <p>Usage (started by {@link RollingRestartScenario} through {@code ChildJvm}): {@code RestartableServerMain
 * <etcdEndpoints> <root> <role> <serverId> <ttlSeconds>}.
 */
public final class RestartableServerMain {

  private RestartableServerMain() {}

  /** Starts, registers, and serves until {@code STOP} or the process is killed. */
  public static void main(String[] args) throws Exception {
    long id = Long.parseLong(args[3]);
    EchoServer server = EchoServer.start(id, args[2], 0, message -> {
      synchronized (System.out) {
        System.out.println("A " + message);
        System.out.flush();
      }
    });
    EtcdDiscovery etcd = EtcdDiscovery.builder().endpoints(args[0].split(",")).root(args[1]).build();
    Registration registration = etcd.register(Session.builder(args[2], server.address()).serverId(id).build(),
        Duration.ofSeconds(Long.parseLong(args[4])), RegistrationListener.NONE).get(30, TimeUnit.SECONDS);
    System.out.println("READY " + server.address());
    System.out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.startsWith("STOP")) {
        long drainMillis = Long.parseLong(line.substring(4).trim());
        registration.markStopping().get(10, TimeUnit.SECONDS);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(drainMillis);
        while (server.inFlightCalls() > 0 && System.nanoTime() < deadline) {
          Thread.sleep(5); // a server process's own drain loop, not a test
        }
        registration.closeAsync().get(10, TimeUnit.SECONDS);
        System.out.println("DEREGISTERED " + server.inFlightCalls());
        System.out.flush();
        server.stopGracefully();
        etcd.close();
        System.exit(0);
      }
    }
  }
}
