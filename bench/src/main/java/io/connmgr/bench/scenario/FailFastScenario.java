package io.connmgr.bench.scenario;

import static io.connmgr.bench.scenario.Results.ms;
import static io.connmgr.bench.scenario.Results.ratio;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.connection.ConnectionListener;
import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.connection.ServerKey;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testservers.EchoServer;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Fail-fast: a {@code Hold} call is in flight to server A, A's session is deleted in etcd, and we time (from just
 * before the delete is sent) until the call fails, for four observers of the same deletion in the same trial:
 *
 * <ul>
 *   <li><b>connmgr</b>: the call on {@code cm.channel("querynode", 1)};
 *   <li><b>etcd watch</b>: a raw jetcd watch on the prefix (its own client) receiving the DELETE — the floor;
 *   <li><b>grpc-java round_robin</b>: a channel over A and B with {@code round_robin}, whose {@link ManualResolver}
 *       drops A's address from inside that raw watch callback, the moment etcd delivers the deletion; its call to A
 *       has the baseline deadline (10 s in full mode) and typically waits for it: round_robin shuts the removed
 *       subchannel down gracefully, and a graceful shutdown lets the calls on it run;
 *   <li><b>plain channel</b>: {@code NettyChannelBuilder.forAddress(A)} with grpc-java's defaults and the same deadline.
 * </ul>
 *
 * <p>Trials run one after another (A's session is put again for the next); the two baseline calls of each trial are
 * left running while the next trials go on (they take until their deadline), and are collected at the end — so all
 * trials of the baselines overlap and the scenario lasts about trials × 20 ms + one deadline.
 */
public final class FailFastScenario implements Scenario {

  static final String ROOT = "bench/failfast/";
  static final String ROLE = "querynode";

  @Override
  public String name() {
    return "fail-fast";
  }

  @Override
  public void run(Env env, Results results) throws Exception {
    int warmup = env.trials(5, 20);
    int trials = env.trials(20, 250);
    long cap = env.baselineDeadlineMs();
    KeyLayout layout = KeyLayout.withRoot(ROOT);
    String keyA = layout.sessionKey(ROLE, 1);
    String keyB = layout.sessionKey(ROLE, 2);
    Latency failFast = new Latency("connmgr: in-flight call failed");
    Latency watch = new Latency("etcd watch: DELETE delivered");
    Latency paired = new Latency("connmgr minus etcd watch, same trial");
    Latency toRemoved = new Latency("etcd watch → connmgr removed the server (its listener)");
    Latency toFailed = new Latency("connmgr removed the server → the call's observer failed");
    AtomicLong removedAt = new AtomicLong();
    Latency roundRobin = new Latency("grpc-java round_robin, address removed (deadline " + cap + " ms)");
    Latency deadline = new Latency("plain grpc-java channel (deadline " + cap + " ms)");
    Map<Status.Code, Integer> rrStatuses = new ConcurrentHashMap<>();
    Map<Status.Code, Integer> deadlineStatuses = new ConcurrentHashMap<>();
    AtomicInteger pendingBaselines = new AtomicInteger();
    ManualResolver mirror = new ManualResolver();
    ConcurrentHashMap<String, Long> deletedSeen = new ConcurrentHashMap<>();
    long lease = env.lease(3600);

    try (EchoServer a = EchoServer.start(1, ROLE);
        EchoServer b = EchoServer.start(2, ROLE);
        Client watchClient = env.etcd().newClient();
        EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(env.endpoints()).layout(layout).build()) {
      env.put(keyB, Session.builder(ROLE, b.address()).serverId(2).build(), lease);
      mirror.put(keyB, new InetSocketAddress(EchoServer.HOST, b.port()));
      Watch.Watcher watcher = watchClient.getWatchClient().watch(Env.bytes(ROOT),
          WatchOption.builder().isPrefix(true).build(), r -> {
            long now = System.nanoTime();
            for (WatchEvent e : r.getEvents()) {
              String key = e.getKeyValue().getKey().toString(StandardCharsets.UTF_8);
              if (e.getEventType() == WatchEvent.EventType.DELETE) {
                deletedSeen.put(key, now);
                mirror.remove(key);
              } else if (e.getEventType() == WatchEvent.EventType.PUT) {
                Session s = SessionCodec.decode(key, e.getKeyValue().getValue().getBytes());
                mirror.put(key, new InetSocketAddress(s.host(), s.port()));
              }
            }
          });
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(discovery).dependsOn(ROLE)
          .listener(new ConnectionListener() {
            @Override
            public void removed(ServerKey server, String reason) {
              removedAt.set(System.nanoTime()); // on the control thread, right after the calls were cancelled
            }
          }).build());
      ManagedChannel plain = NettyChannelBuilder.forAddress(EchoServer.HOST, a.port()).usePlaintext().build();
      @SuppressWarnings("deprecation")
      ManagedChannel rr = NettyChannelBuilder.forTarget(ManualResolver.SCHEME + ":///" + ROLE)
          .nameResolverFactory(mirror).defaultLoadBalancingPolicy("round_robin").usePlaintext().build();
      try {
        cm.start().get(10, TimeUnit.SECONDS);
        Session sessionA = Session.builder(ROLE, a.address()).serverId(1).build();
        for (int i = 1; i <= warmup + trials; i++) {
          boolean measured = i > warmup;
          env.put(keyA, sessionA, lease);
          Env.await(() -> cm.serverState(ROLE, 1) == ServerState.READY, "querynode-1 READY in connmgr");
          AtomicLong t0 = new AtomicLong();
          AtomicLong failedAt = new AtomicLong();
          AtomicReference<Status> failedWith = new AtomicReference<>();
          long h = a.holdsStarted();
          Calls.hold(cm.channel(ROLE, 1), 60_000, s -> {
            failedWith.set(s);
            failedAt.set(System.nanoTime());
          });
          Env.await(() -> a.holdsStarted() == h + 1, "connmgr's hold on A");
          pendingBaselines.incrementAndGet();
          Calls.hold(plain, cap, s -> {
            if (measured) {
              deadline.record(System.nanoTime() - t0.get());
              deadlineStatuses.merge(s.getCode(), 1, Integer::sum);
            }
            pendingBaselines.decrementAndGet();
          });
          Env.await(() -> a.holdsStarted() == h + 2, "the plain channel's hold on A");
          startRoundRobinHoldOnA(rr, a, b, cap, t0, measured, roundRobin, rrStatuses, pendingBaselines);

          deletedSeen.remove(keyA);
          removedAt.set(0);
          t0.set(System.nanoTime());
          env.writer().getKVClient().delete(Env.bytes(keyA));
          Env.await(() -> failedAt.get() != 0 && deletedSeen.containsKey(keyA) && removedAt.get() != 0,
              "the deletion to fail the call");
          if (failedWith.get().getCode() != Status.Code.UNAVAILABLE) {
            throw new IllegalStateException("connmgr's call ended with " + failedWith.get());
          }
          if (measured) {
            failFast.record(failedAt.get() - t0.get());
            watch.record(deletedSeen.get(keyA) - t0.get());
            paired.record(failedAt.get() - deletedSeen.get(keyA)); // negative (connmgr first) counts as 0
            toRemoved.record(removedAt.get() - deletedSeen.get(keyA));
            toFailed.record(failedAt.get() - removedAt.get());
          }
        }
        Env.await(() -> pendingBaselines.get() == 0, Duration.ofMillis(cap + 30_000), "the baseline calls to end");
      } finally {
        watcher.close();
        cm.close();
        plain.shutdownNow();
        rr.shutdownNow();
      }
    }

    ObjectNode ff = failFast.writeTo(results.node("failFast"));
    ff.put("minusWatchP50Ms", Results.round(failFast.p50Ms() - watch.p50Ms()));
    ff.put("minusWatchP99Ms", Results.round(failFast.p99Ms() - watch.p99Ms()));
    paired.writeTo(ff.putObject("pairedMinusWatch"));
    toRemoved.writeTo(ff.putObject("watchToRemoved"));
    toFailed.writeTo(ff.putObject("removedToCallFailed"));
    watch.writeTo(results.node("watch"));
    roundRobin.writeTo(results.node("baselineRoundRobin")).put("deadlineMs", cap)
        .set("statuses", Results.MAPPER.valueToTree(new TreeMap<>(rrStatuses)));
    deadline.writeTo(results.node("baselineDeadline")).put("deadlineMs", cap)
        .set("statuses", Results.MAPPER.valueToTree(new TreeMap<>(deadlineStatuses)));

    double gapP99 = failFast.p99Ms() - watch.p99Ms();
    double xRr = roundRobin.p50Ms() / failFast.p50Ms();
    double xDl = deadline.p50Ms() / failFast.p50Ms();
    Results.Section s = results.section("Fail-fast: session deleted → in-flight call failed",
        "A `Hold` call is in flight to server A; A's session is deleted in etcd; time from just before the delete is "
            + "sent until the call fails. " + trials + " trials after " + warmup + " warm-up; every observer sees "
            + "the same deletions. Baselines: etcd's own watch delivery of the deletion (a raw jetcd watch, the floor "
            + "connmgr builds on), grpc-java `round_robin` over A and B whose resolver drops A's address inside that "
            + "watch callback, and a plain grpc-java channel to A. Both grpc-java baseline calls carry a " + cap
            + " ms deadline (the cap: without one they would hang); the baseline calls of all trials ran "
            + "concurrently, each started just before its trial's delete.");
    s.row("p50", ms(failFast.p50Ms()), "etcd watch " + ms(watch.p50Ms()), ratio(failFast.p50Ms(), watch.p50Ms()),
        "", "");
    s.row("p99", ms(failFast.p99Ms()), "etcd watch " + ms(watch.p99Ms()), ratio(failFast.p99Ms(), watch.p99Ms()),
        "p99 within 1 ms of the watch's p99 (gap " + ms(gapP99) + ")",
        results.goal("failFast.p99 - watch.p99", "≤ 1 ms", gapP99, "ms", gapP99 <= 1.0));
    s.row("p50 vs round_robin", ms(failFast.p50Ms()), "round_robin " + ms(roundRobin.p50Ms()),
        "sooner " + ratio(roundRobin.p50Ms(), failFast.p50Ms()), "≥ 1000× sooner",
        results.goal("baselineRoundRobin.p50 / failFast.p50", "≥ 1000×", xRr, "×", xRr >= 1000));
    s.row("p50 vs plain channel + deadline", ms(failFast.p50Ms()), "deadline " + ms(deadline.p50Ms()),
        "sooner " + ratio(deadline.p50Ms(), failFast.p50Ms()), "≥ 1000× sooner",
        results.goal("baselineDeadline.p50 / failFast.p50", "≥ 1000×", xDl, "×", xDl >= 1000));
    s.row("p99 vs baselines", ms(failFast.p99Ms()), "round_robin " + ms(roundRobin.p99Ms()) + ", deadline "
        + ms(deadline.p99Ms()), "sooner " + ratio(Math.min(roundRobin.p99Ms(), deadline.p99Ms()), failFast.p99Ms()),
        "", "");
    s.note("Per trial, connmgr's failure minus the raw watch's delivery of the same deletion: p50 "
        + ms(paired.p50Ms()) + ", p99 " + ms(paired.p99Ms()) + ", max " + ms(paired.maxMs()) + " (connmgr has its "
        + "own etcd connection and watch stream; a negative difference counts as 0). Split: raw watch → connmgr "
        + "removed the server (its own watch stream, decoding, hand-off to the control thread, cancel) p50 "
        + ms(toRemoved.p50Ms()) + ", p99 " + ms(toRemoved.p99Ms()) + "; removed → the call's observer saw the "
        + "failure (grpc-java delivers onClose on the call's executor) p50 " + ms(toFailed.p50Ms()) + ", p99 "
        + ms(toFailed.p99Ms()) + ".");
    s.note("How the grpc-java baseline calls ended: round_robin " + new TreeMap<>(rrStatuses) + ", plain channel "
        + new TreeMap<>(deadlineStatuses) + ". A baseline figure just under " + cap + " ms is its deadline (set when "
        + "the call started, a moment before the delete), not a detection.");
    results.chart(new Results.Chart("failfast.svg", "Session deleted → in-flight call failed",
        List.of(failFast, watch, roundRobin, deadline),
        "connmgr's calls fail within a millisecond or two of etcd delivering the deletion; grpc-java's calls run "
            + "until their " + cap + " ms deadline."));
  }

  private static void startRoundRobinHoldOnA(ManagedChannel rr, EchoServer a, EchoServer b, long cap, AtomicLong t0,
      boolean measured, Latency roundRobin, Map<Status.Code, Integer> statuses, AtomicInteger pending) {
    // round_robin picks among READY subchannels: until A's new subchannel is connected a call may land on B; such a
    // call is cancelled (not recorded) and another one started
    for (int attempt = 0; attempt < 10_000; attempt++) {
      long ha = a.holdsStarted();
      long hb = b.holdsStarted();
      AtomicLong landedOnA = new AtomicLong();
      pending.incrementAndGet();
      ClientCall<?, ?> call = Calls.hold(rr, cap, s -> {
        if (measured && landedOnA.get() == 1) {
          roundRobin.record(System.nanoTime() - t0.get());
          statuses.merge(s.getCode(), 1, Integer::sum);
        }
        pending.decrementAndGet();
      });
      Env.await(() -> a.holdsStarted() > ha || b.holdsStarted() > hb, "the round_robin hold to land");
      if (a.holdsStarted() > ha) {
        landedOnA.set(1);
        return;
      }
      call.cancel("landed on B; retrying for A", null);
    }
    throw new IllegalStateException("the round_robin channel never picked A");
  }
}
