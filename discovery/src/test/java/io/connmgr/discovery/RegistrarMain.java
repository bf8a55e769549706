package io.connmgr.discovery;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A server process for tests: registers one session in etcd and waits to be killed. Prints {@code REGISTERED <key>}
 * once the key exists. Arguments: endpoints root role id ttlSeconds port [exclusive]. With {@code exclusive} the
 * session is exclusive and campaigns for its role's active key; the process then prints {@code ACQUIRED <role>-<id>}
 * when it leads the role and {@code LOST <role>-<id> <reason>} when it no longer does (either may come before
 * {@code REGISTERED}).
 */
public final class RegistrarMain {
  private RegistrarMain() {}

  public static void main(String[] args) throws Exception {
    EtcdDiscovery etcd = EtcdDiscovery.builder().endpoints(args[0]).root(args[1]).build();
    boolean exclusive = args.length > 6 && args[6].equals("exclusive");
    Session s = Session.builder(args[2], "127.0.0.1:" + args[5]).serverId(Long.parseLong(args[3]))
        .exclusive(exclusive).build();
    RegistrationListener listener = !exclusive ? RegistrationListener.NONE : new RegistrationListener() {
      @Override
      public void onLeadershipAcquired(Session session) {
        print("ACQUIRED " + session.name());
      }

      @Override
      public void onLeadershipLost(Session session, String reason) {
        print("LOST " + session.name() + " " + reason);
      }
    };
    Registration r = etcd.register(s, Duration.ofSeconds(Long.parseLong(args[4])), listener)
        .get(30, TimeUnit.SECONDS);
    print("REGISTERED " + r.session().key());
    new CountDownLatch(1).await();
  }

  private static synchronized void print(String line) {
    System.out.println(line);
    System.out.flush();
  }
}
