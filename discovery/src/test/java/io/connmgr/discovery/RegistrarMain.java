package io.connmgr.discovery;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A server process for tests: registers one session in etcd and waits to be killed. Prints {@code REGISTERED <key>}
 * once the key exists. Arguments: endpoints root role id ttlSeconds port.
 */
public final class RegistrarMain {
  private RegistrarMain() {}

  public static void main(String[] args) throws Exception {
    EtcdDiscovery etcd = EtcdDiscovery.builder().endpoints(args[0]).root(args[1]).build();
    Session s = Session.builder(args[2], "127.0.0.1:" + args[5]).serverId(Long.parseLong(args[3])).build();
    Registration r = etcd.register(s, Duration.ofSeconds(Long.parseLong(args[4])), RegistrationListener.NONE)
        .get(30, TimeUnit.SECONDS);
    System.out.println("REGISTERED " + r.session().key());
    System.out.flush();
    new CountDownLatch(1).await();
  }
}
