package io.connmgr.discovery;

import io.connmgr.testing.EtcdCluster;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.CompactOption;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.PutOption;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Seeded random operation sequences against a three-member cluster, each with a compaction and a restart of the
 * member the subscriber is pinned to, each ending with the subscriber's view equal to etcd's and a consistent event
 * history. Reproduce one sequence with {@code -Dconnmgr.seed=<seed>} (printed on failure);
 * {@code -Dconnmgr.sequences=N} changes how many run (200 by default).
 */
class EtcdRandomizedTest {

  private static final Logger log = LoggerFactory.getLogger(EtcdRandomizedTest.class);

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.members(3);

  private static Client writer;
  private long invalid;
  private long resyncs;
  private long restarts;

  @BeforeAll
  static void connect() {
    writer = etcd.newClient(1);
  }

  @AfterAll
  static void disconnect() {
    writer.close();
  }

  private enum Op_ { PUT, PUT_STOPPING, PUT_INVALID, DELETE, DELETE_ROLE, TXN_PAIR, COMPACT, OUTAGE_START, OUTAGE_END }

  @Test
  void randomSequencesConvergeOnEtcdsState() throws Exception {
    long base = Long.getLong("connmgr.seed", 20261121L);
    int sequences = Integer.getInteger("connmgr.sequences", Long.getLong("connmgr.seed") != null ? 1 : 200);
    for (int i = 0; i < sequences; i++) {
      long seed = base + i;
      try {
        runSequence(seed);
      } catch (Throwable t) {
        throw new AssertionError("sequence failed; reproduce with -Dconnmgr.seed=" + seed, t);
      }
    }
    log.info("{} random sequences converged; invalid values skipped: {}, re-lists: {}, watch restarts: {}",
        sequences, invalid, resyncs, restarts);
  }

  private void runSequence(long seed) throws Exception {
    Random random = new Random(seed);
    String root = "random/s" + seed + "/";
    KeyLayout layout = KeyLayout.withRoot(root);
    List<Op_> ops = new ArrayList<>();
    int n = 8 + random.nextInt(12);
    for (int i = 0; i < n; i++) {
      ops.add(List.of(Op_.PUT, Op_.PUT, Op_.PUT_STOPPING, Op_.PUT_INVALID, Op_.DELETE, Op_.DELETE_ROLE, Op_.TXN_PAIR)
          .get(random.nextInt(7)));
    }
    ops.add(random.nextInt(ops.size() + 1), Op_.COMPACT);
    int start = random.nextInt(ops.size() + 1);
    ops.add(start, Op_.OUTAGE_START);
    ops.add(start + 1 + random.nextInt(ops.size() - start), Op_.OUTAGE_END);

    // pre-existing state, so the initial list has something in it
    for (int i = 0; i < random.nextInt(4); i++) {
      put(writer.getKVClient(), layout, "querynode", random.nextInt(6), random.nextInt(60000) + 1, false);
    }
    RecordingListener l = new RecordingListener();
    // the subscriber is pinned to member 0, the one the outages hit
    try (EtcdDiscovery discovery = EtcdDiscovery.builder().endpoints(etcd.clientEndpoint(0)).root(root)
        .retryBackoff(Duration.ofMillis(10), Duration.ofMillis(200)).build();
        Subscription s = discovery.subscribe(l)) {
      l.awaitSynced();
      KV kv = writer.getKVClient();
      for (Op_ op : ops) {
        String role = random.nextBoolean() ? "querynode" : "QueryNode";
        int id = random.nextInt(6);
        int port = random.nextInt(60000) + 1;
        boolean kill = random.nextBoolean();
        long t0 = System.nanoTime();
        retrying(() -> apply(op, kv, layout, root, role, id, port, kill));
        log.debug("seed {}: {} {}-{} took {} ms", seed, op, role, id, (System.nanoTime() - t0) / 1_000_000);
      }
      long t0 = System.nanoTime();
      Expectations.awaitConverged(l, writer, root);
      log.debug("seed {}: converged in {} ms", seed, (System.nanoTime() - t0) / 1_000_000);
      invalid += discovery.stats().invalidValues();
      resyncs += discovery.stats().resyncs();
      restarts += discovery.stats().watchRestarts();
    }
  }

  /** The test's own writes ride out leader elections: a write that timed out is simply done again (idempotent). */
  private static void retrying(ThrowingRunnable action) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (true) {
      try {
        action.run();
        return;
      } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        log.debug("test write failed, retrying: {}", String.valueOf(e.getCause()));
      }
    }
  }

  @FunctionalInterface
  private interface ThrowingRunnable {
    void run() throws Exception;
  }

  private void apply(Op_ op, KV kv, KeyLayout layout, String root, String role, int id, int port, boolean kill)
      throws Exception {
        switch (op) {
          case PUT -> put(kv, layout, role, id, port, false);
          case PUT_STOPPING -> put(kv, layout, role, id, port, true);
          case PUT_INVALID -> kv.put(bytes(layout.sessionKey(role, id)),
              bytes("{\"ServerID\":" + id + ",\"ServerName\":\"" + role + "\",\"Address\":\"nowhere\"}"))
              .get(2, TimeUnit.SECONDS);
          case DELETE -> kv.delete(bytes(layout.sessionKey(role, id))).get(2, TimeUnit.SECONDS);
          case DELETE_ROLE -> kv.delete(bytes(root + role + "-"), DeleteOption.builder().isPrefix(true).build())
              .get(2, TimeUnit.SECONDS);
          case TXN_PAIR -> {
            Session a = Session.builder(role, "127.0.0.1:" + port).serverId(id).build();
            Session b = a.withServerId((id + 1) % 6);
            kv.txn().Then(
                Op.put(bytes(layout.sessionKey(role, a.serverId())), ByteSequence.from(SessionCodec.encode(a)),
                    PutOption.DEFAULT),
                Op.put(bytes(layout.sessionKey(role, b.serverId())), ByteSequence.from(SessionCodec.encode(b)),
                    PutOption.DEFAULT)).commit().get(2, TimeUnit.SECONDS);
          }
          case COMPACT -> {
            long rev = kv.get(bytes(root)).get(2, TimeUnit.SECONDS).getHeader().getRevision();
            try {
              kv.compact(rev, CompactOption.builder().withCompactPhysical(true).build()).get(2, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
              if (!String.valueOf(e.getCause().getMessage()).contains("compacted")) {
                throw e; // a retried compaction that already happened is fine
              }
            }
          }
          case OUTAGE_START -> {
            if (kill) {
              etcd.kill(0);
            } else {
              etcd.stop(0);
            }
          }
          case OUTAGE_END -> etcd.start(0);
          default -> throw new IllegalStateException(op.toString());
        }
  }

  private static void put(KV kv, KeyLayout layout, String role, int id, int port, boolean stopping)
      throws Exception {
    Session s = Session.builder(role, "127.0.0.1:" + port).serverId(id).build().withStopping(stopping);
    kv.put(bytes(layout.sessionKey(role, id)), ByteSequence.from(SessionCodec.encode(s))).get(2, TimeUnit.SECONDS);
  }

  private static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

}
