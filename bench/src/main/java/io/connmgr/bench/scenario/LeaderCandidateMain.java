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
 * A candidate of an exclusive role for the leader-failover scenario, as a Milvus coordinator in active-standby mode
 * is: an {@link EchoServer} whose exclusive session is registered under a lease this process keeps alive, campaigning
 * for the role's active key. Prints {@code READY <address>} once registered, {@code LEADER} when it holds the active
 * key, {@code LOST <reason>} when it loses it. On {@code STEPDOWN} (stdin) it steps down as a well-behaved server does:
 * Stopping, then its lease revoked (both keys go at once), then prints {@code GONE}.
 *
 * <p>Usage: {@code LeaderCandidateMain <etcdEndpoints> <root> <role> <serverId> <ttlSeconds>}.
 */
public final class LeaderCandidateMain {

  private LeaderCandidateMain() {}

  /** Registers, campaigns, and follows the commands on stdin until killed. */
  public static void main(String[] args) throws Exception {
    long id = Long.parseLong(args[3]);
    EchoServer server = EchoServer.start(id, args[2]);
    EtcdDiscovery etcd = EtcdDiscovery.builder().endpoints(args[0].split(",")).root(args[1]).build();
    Registration reg = etcd.register(Session.builder(args[2], server.address()).serverId(id).exclusive(true).build(),
        Duration.ofSeconds(Long.parseLong(args[4])), new RegistrationListener() {
          @Override
          public void onLeadershipAcquired(Session session) {
            print("LEADER");
          }

          @Override
          public void onLeadershipLost(Session session, String reason) {
            print("LOST " + reason);
          }
        }).get(30, TimeUnit.SECONDS);
    print("READY " + server.address());
    if (reg.active()) {
      print("LEADER");
    }
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.equals("STEPDOWN")) {
        reg.closeAsync().get(30, TimeUnit.SECONDS);
        print("GONE");
      }
    }
  }

  private static synchronized void print(String line) {
    System.out.println(line);
    System.out.flush();
  }
}
