package io.connmgr.connection;

import io.connmgr.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testservers.EchoServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** 1,000 register/deregister flaps leave exactly the live servers' channels and no extra threads. */
@ExtendWith(LeakCheck.class)
class ConnectionFlapTest {

  @Test
  void flapsLeaveExactlyTheLiveServersChannelsAndNoExtraThreads() throws Exception {
    List<EchoServer> servers = new ArrayList<>();
    try (InMemoryRegistry registry = InMemoryRegistry.create()) {
      for (int i = 0; i < 5; i++) {
        servers.add(EchoServer.start(i, "querynode"));
      }
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(registry).dependsOn("querynode")
          .build());
      try {
        cm.start().get(5, TimeUnit.SECONDS);
        boolean[] live = new boolean[5];
        Random random = new Random(42);
        // one warm-up round so grpc-java's shared event loops exist before the baseline is taken
        flap(registry, servers, live, random, 20);
        await().atMost(Duration.ofSeconds(20)).until(() -> settled(cm, live));
        Set<String> baseline = threadNames();
        long ownBefore = baseline.stream().filter(n -> n.startsWith("connmgr-")).count();

        flap(registry, servers, live, random, 1000);
        await().atMost(Duration.ofSeconds(30)).until(() -> settled(cm, live));
        int liveCount = count(live);
        assertThat(cm.stats().roles().getOrDefault("querynode", ConnectionStats.RoleStats.EMPTY)
            .registered()).isEqualTo(liveCount);
        await().atMost(Duration.ofSeconds(10)).until(() -> cm.stats().openChannels() == liveCount);
        // no thread of ours per channel or per flap; grpc-java's shared event loops and executor may have grown
        // (they are bounded and shared by every channel in the JVM, not per channel)
        Set<String> after = threadNames();
        assertThat(after.stream().filter(n -> n.startsWith("connmgr-")).count()).isEqualTo(ownBefore);
        Set<String> added = new HashSet<>(after);
        added.removeAll(baseline);
        // allowed: grpc-java's shared pools, the test servers' own workers, Awaitility's poller
        assertThat(added).allSatisfy(n -> assertThat(n).matches("(grpc-|echo-server-|awaitility).*"));
        assertThat(added.size()).isLessThanOrEqualTo(4 * Runtime.getRuntime().availableProcessors());
      } finally {
        cm.close();
      }
    } finally {
      servers.forEach(EchoServer::close);
    }
  }

  private static Set<String> threadNames() {
    Set<String> out = new HashSet<>();
    Thread.getAllStackTraces().keySet().forEach(t -> out.add(t.getName()));
    return out;
  }

  private static void flap(InMemoryRegistry registry, List<EchoServer> servers, boolean[] live, Random random,
      int n) {
    for (int i = 0; i < n; i++) {
      int k = random.nextInt(servers.size());
      String key = registry.layout().sessionKey("querynode", k);
      if (live[k]) {
        registry.kv().delete(key);
      } else {
        registry.kv().put(key, SessionCodec.encode(Session.builder("querynode", servers.get(k).address()).serverId(k)
            .build()));
      }
      live[k] = !live[k];
    }
  }

  private static boolean settled(ConnectionManager cm, boolean[] live) {
    ConnectionStats.RoleStats r = cm.stats().roles().get("querynode");
    int n = count(live);
    return n == 0 ? r == null || r.registered() == 0 : r != null && r.registered() == n && r.ready() == n;
  }

  private static int count(boolean[] live) {
    int n = 0;
    for (boolean b : live) {
      n += b ? 1 : 0;
    }
    return n;
  }
}
