package io.connmgr.bench.scenario;

import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testservers.LocalEtcd;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.PutOption;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

/**
 * What the scenarios share: the mode (quick or full, and the trial counts that follow from it), one real etcd started
 * by the runner, and one writer client. Each scenario uses its own key prefix, so they do not see each other's keys.
 */
public final class Env {

  private final boolean quick;
  private final LocalEtcd etcd;
  private final Client writer;

  public Env(boolean quick, LocalEtcd etcd, Client writer) {
    this.quick = quick;
    this.etcd = etcd;
    this.writer = writer;
  }

  /** Quick mode: a smoke test of the harness, few trials, short baseline deadlines. */
  public boolean quick() {
    return quick;
  }

  /** {@code quick} in quick mode, else {@code full}. */
  public int trials(int quickCount, int fullCount) {
    return quick ? quickCount : fullCount;
  }

  /**
   * The deadline of the calls of grpc-java baselines that would otherwise hang: 10 s in full mode (the figure reported
   * for them is this cap), 2 s in quick mode.
   */
  public long baselineDeadlineMs() {
    return quick ? 2_000 : 10_000;
  }

  /** The etcd. */
  public LocalEtcd etcd() {
    return etcd;
  }

  /** The etcd's client URLs. */
  public List<String> endpoints() {
    return etcd.clientEndpoints();
  }

  /** The shared writer client (for puts, deletes and leases). */
  public Client writer() {
    return writer;
  }

  /** A lease of {@code ttlSeconds}, not kept alive. */
  public long lease(long ttlSeconds) throws Exception {
    return writer.getLeaseClient().grant(ttlSeconds).get(10, TimeUnit.SECONDS).getID();
  }

  /** Puts {@code session} at {@code key} (under {@code lease} unless it is 0); returns the revision. */
  public long put(String key, Session session, long lease) throws Exception {
    PutOption.Builder o = PutOption.builder();
    if (lease != 0) {
      o.withLeaseId(lease);
    }
    return writer.getKVClient().put(bytes(key), ByteSequence.from(SessionCodec.encode(session)), o.build())
        .get(10, TimeUnit.SECONDS).getHeader().getRevision();
  }

  /**
   * Puts {@code sessions} (key to session) under {@code lease} in 128-put transactions, 8 in flight: how the scenarios
   * load thousands of sessions quickly.
   */
  public void putAll(Map<String, Session> sessions, long lease) throws Exception {
    List<CompletableFuture<?>> inFlight = new ArrayList<>();
    List<Op> ops = new ArrayList<>();
    for (Map.Entry<String, Session> e : sessions.entrySet()) {
      ops.add(Op.put(bytes(e.getKey()), ByteSequence.from(SessionCodec.encode(e.getValue())),
          PutOption.builder().withLeaseId(lease).build()));
      if (ops.size() == 128) {
        inFlight.add(writer.getKVClient().txn().Then(ops.toArray(new Op[0])).commit());
        ops.clear();
      }
      if (inFlight.size() == 8) {
        CompletableFuture.allOf(inFlight.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
        inFlight.clear();
      }
    }
    if (!ops.isEmpty()) {
      inFlight.add(writer.getKVClient().txn().Then(ops.toArray(new Op[0])).commit());
    }
    CompletableFuture.allOf(inFlight.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
  }

  /** Deletes {@code key}, waiting for etcd's answer. */
  public void delete(String key) throws Exception {
    writer.getKVClient().delete(bytes(key)).get(10, TimeUnit.SECONDS);
  }

  /**
   * Waits (polling every 20 µs, no fixed sleep) until {@code condition} holds.
   *
   * @throws IllegalStateException naming {@code what} after {@code timeout}
   */
  public static void await(BooleanSupplier condition, Duration timeout, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() - deadline > 0) {
        throw new IllegalStateException("timed out after " + timeout.toMillis() + " ms waiting for " + what);
      }
      LockSupport.parkNanos(20_000);
    }
  }

  /** {@link #await(BooleanSupplier, Duration, String)} with 30 s. */
  public static void await(BooleanSupplier condition, String what) {
    await(condition, Duration.ofSeconds(30), what);
  }

  /** UTF-8 bytes for jetcd. */
  public static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }
}
