package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.bytes;
import static io.connmgr.bench.scenario.Results.ratio;

import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ConnectionStats;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.testservers.ChildJvm;
import io.connmgr.testservers.EchoServerMain;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Memory per live channel: N sessions of one role all name one echo server running in a child JVM (so the server's
 * side of each connection is not in this heap); connmgr connects each (READY), and the retained heap growth from the
 * same manager with the sessions known but unconnected, divided by N, is the cost of one live connmgr channel. Baseline:
 * N raw {@code ManagedChannel}s ({@code NettyChannelBuilder.forAddress(...).usePlaintext()}) to the same server,
 * connected, in the same run. One raw channel stays open throughout so grpc's shared event loops exist before either
 * measurement. (Heap per idle session is measured by {@link StartupScenario} on 10,000 sessions.)
 */
public final class MemoryScenario implements Scenario {

  private static final String ROOT = "bench/memory/";
  private static final String ROLE = "memnode";

  @Override
  public String name() {
    return "memory";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int n = env.trials(50, 300);
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    long perRaw;
    long perConnmgr;
    try (ChildJvm server = ChildJvm.start(EchoServerMain.class, "0", ROLE, "0")) {
      String address = server.awaitLine("LISTENING ", Duration.ofSeconds(60)).substring("LISTENING ".length());
      String host = address.substring(0, address.lastIndexOf(':'));
      int port = Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
      ManagedChannel warm = connect(host, port);
      try {
        // baseline: raw channels
        long before = Heap.usedAfterGc();
        List<ManagedChannel> raw = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          raw.add(NettyChannelBuilder.forAddress(host, port).usePlaintext().build());
          raw.get(i).getState(true);
        }
        Env.await(() -> raw.stream().allMatch(c -> c.getState(false) == ConnectivityState.READY),
            Duration.ofSeconds(60), n + " raw channels READY");
        perRaw = (Heap.usedAfterGc() - before) / n;
        for (ManagedChannel c : raw) {
          c.shutdownNow();
        }
        for (ManagedChannel c : raw) {
          c.awaitTermination(10, TimeUnit.SECONDS);
        }
        raw.clear();

        // connmgr: the same sessions known, then connected
        long lease = env.lease(3600);
        for (int id = 1; id <= n; id++) {
          env.put(layout.sessionKey(ROLE, id), Session.builder(ROLE, address).serverId(id).build(), lease);
        }
        try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
          ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(d).roles(ROLE).build());
          try {
            cm.start().get(30, TimeUnit.SECONDS);
            long idle = Heap.usedAfterGc();
            for (int id = 1; id <= n; id++) {
              cm.reconnect(ROLE, id);
            }
            Env.await(() -> {
              ConnectionStats.RoleStats rs = cm.stats().roles().get(ROLE);
              return rs != null && rs.ready() == n;
            }, Duration.ofSeconds(60), n + " connmgr channels READY");
            perConnmgr = (Heap.usedAfterGc() - idle) / n;
          } finally {
            cm.close();
          }
        }
      } finally {
        warm.shutdownNow();
      }
    }
    var m = results.node("memory");
    m.put("perLiveChannelBytes", perConnmgr);
    m.put("perRawManagedChannelBytes", perRaw);
    m.put("liveChannels", n);
    results.section("Memory: live channels",
        n + " sessions naming one echo server in a child JVM; connmgr connects each, and its retained heap growth "
            + "over the same manager with the sessions idle, per channel, is set beside " + n + " connected raw "
            + "`ManagedChannel`s to the same server (MemoryMXBean after full GCs, same run).")
        .row("heap per live channel", bytes(perConnmgr), "raw ManagedChannel " + bytes(perRaw),
            ratio(perConnmgr, perRaw), "", "");
  }

  private static ManagedChannel connect(String host, int port) {
    ManagedChannel c = NettyChannelBuilder.forAddress(host, port).usePlaintext().build();
    c.getState(true);
    Env.await(() -> c.getState(false) == ConnectivityState.READY, Duration.ofSeconds(30), "a warm-up channel");
    return c;
  }
}
