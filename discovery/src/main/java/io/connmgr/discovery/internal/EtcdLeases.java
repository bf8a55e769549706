package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryException;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.ErrorCode;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.lease.LeaseKeepAliveResponse;
import io.etcd.jetcd.op.Cmp;
import io.etcd.jetcd.op.CmpTarget;
import io.etcd.jetcd.op.Op;
import io.etcd.jetcd.options.DeleteOption;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.support.CloseableClient;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link LeaseBackend} on jetcd, and the server-id counter. jetcd's callbacks (Vert.x / gRPC threads) only pass
 * results on; nothing here blocks.
 */
public final class EtcdLeases implements LeaseBackend {

  private static final Logger log = LoggerFactory.getLogger(EtcdLeases.class);
  private static final int MAX_CAS_ATTEMPTS = 64;

  private final Client client;
  private final ScheduledExecutorService scheduler;

  public EtcdLeases(Client client, ScheduledExecutorService scheduler) {
    this.client = client;
    this.scheduler = scheduler;
  }

  @Override
  public CompletableFuture<Long> grant(long ttlSeconds) {
    return client.getLeaseClient().grant(ttlSeconds)
        .handle((r, err) -> {
          if (err != null) {
            throw EtcdSupport.unavailable("granting a lease", err);
          }
          return r.getID();
        });
  }

  @Override
  public CompletableFuture<Created> create(String sessionKey, String activeKey, byte[] value, long lease,
      long previousLease) {
    return createKey(sessionKey, value, lease, previousLease).thenCompose(created -> {
      if (!created.ok()) {
        return CompletableFuture.completedFuture(new Created(CreateResult.CONFLICT, created.revision()));
      }
      if (activeKey == null) {
        return CompletableFuture.completedFuture(new Created(CreateResult.CREATED, created.revision()));
      }
      return createKey(activeKey, value, lease, previousLease)
          .thenApply(active -> new Created(active.ok() ? CreateResult.CREATED_ACTIVE : CreateResult.CREATED,
              active.revision()));
    });
  }

  /** Whether a conditional write happened, and the revision it was decided at. */
  private record Written(boolean ok, long revision) {}

  /** Puts {@code key} if absent, or if it is still attached to {@code previousLease}. */
  private CompletableFuture<Written> createKey(String key, byte[] value, long lease, long previousLease) {
    KV kv = client.getKVClient();
    ByteSequence k = EtcdSupport.bytes(key);
    Op put = Op.put(k, ByteSequence.from(value), PutOption.builder().withLeaseId(lease).build());
    return kv.txn()
        .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.createRevision(0)))
        .Then(put)
        .commit()
        .handle((r, err) -> {
          if (err != null) {
            throw EtcdSupport.unavailable("creating " + key, err);
          }
          return new Written(r.isSucceeded(), r.getHeader().getRevision());
        })
        .thenCompose(w -> {
          if (w.ok() || previousLease == 0) {
            return CompletableFuture.completedFuture(w);
          }
          // Our own previous registration may still hold the key (lease not yet expired): take it over.
          return kv.get(k).thenCompose(g -> {
            if (g.getKvs().isEmpty()) {
              return createKey(key, value, lease, 0);
            }
            KeyValue current = g.getKvs().get(0);
            if (current.getLease() != previousLease) {
              return CompletableFuture.completedFuture(new Written(false, g.getHeader().getRevision()));
            }
            return kv.txn()
                .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(current.getModRevision())))
                .Then(put)
                .commit()
                .thenApply(r -> new Written(r.isSucceeded(), r.getHeader().getRevision()));
          });
        });
  }

  @Override
  public CompletableFuture<Claim> claim(String key, byte[] value, long lease) {
    ByteSequence k = EtcdSupport.bytes(key);
    return client.getKVClient().txn()
        .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.version(0)))
        .Then(Op.put(k, ByteSequence.from(value), PutOption.builder().withLeaseId(lease).build()))
        .Else(Op.get(k, GetOption.DEFAULT))
        .commit()
        .handle((r, err) -> {
          if (err != null) {
            Throwable cause = EtcdSupport.unwrap(err);
            if (cause instanceof EtcdException e && e.getErrorCode() == ErrorCode.NOT_FOUND) {
              throw new DiscoveryException(DiscoveryException.Code.SESSION_LOST,
                  "claiming " + key + ": lease " + Long.toHexString(lease) + " not found", cause);
            }
            throw EtcdSupport.unavailable("claiming " + key + " on lease " + Long.toHexString(lease), err);
          }
          long rev = r.getHeader().getRevision();
          if (r.isSucceeded()) {
            return new Claim(true, lease, rev);
          }
          List<KeyValue> kvs = r.getGetResponses().isEmpty() ? List.of() : r.getGetResponses().get(0).getKvs();
          return new Claim(false, kvs.isEmpty() ? 0 : kvs.get(0).getLease(), rev);
        });
  }

  @Override
  public CompletableFuture<Boolean> release(String key, long lease) {
    return ifHeld(EtcdSupport.bytes(key), key, lease, k -> Op.delete(k, DeleteOption.DEFAULT), "releasing", 0);
  }

  /**
   * Reads the key, then applies {@code op} if the key is still at that mod revision (so still on {@code lease});
   * completes with whether it did. A key changed in between is read again.
   */
  private CompletableFuture<Boolean> ifHeld(ByteSequence k, String key, long lease, Function<ByteSequence, Op> op,
      String what, int attempt) {
    KV kv = client.getKVClient();
    return kv.get(k).thenCompose(g -> {
      if (g.getKvs().isEmpty() || g.getKvs().get(0).getLease() != lease) {
        return CompletableFuture.completedFuture(false);
      }
      long mod = g.getKvs().get(0).getModRevision();
      return kv.txn()
          .If(new Cmp(k, Cmp.Op.EQUAL, CmpTarget.modRevision(mod)))
          .Then(op.apply(k))
          .commit()
          .thenCompose(r -> {
            if (r.isSucceeded()) {
              return CompletableFuture.completedFuture(true);
            }
            if (attempt + 1 >= MAX_CAS_ATTEMPTS) {
              throw new DiscoveryException(DiscoveryException.Code.CONFLICT,
                  what + " " + key + " failed after " + MAX_CAS_ATTEMPTS + " attempts");
            }
            return ifHeld(k, key, lease, op, what, attempt + 1); // changed meanwhile (Stopping): read it again
          });
    }).handle((ok, err) -> {
      if (err != null) {
        throw EtcdSupport.unavailable(what + " " + key, err);
      }
      return ok;
    });
  }

  @Override
  public AutoCloseable watch(String key, long fromRevision, KeyWatcher watcher) {
    AtomicBoolean ended = new AtomicBoolean();
    WatchOption option = WatchOption.builder()
        .withRevision(fromRevision)
        .withRequireLeader(true)
        .build();
    Watch.Watcher w = client.getWatchClient().watch(EtcdSupport.bytes(key), option, Watch.listener(
        response -> {
          if (ended.get()) {
            return;
          }
          for (WatchEvent e : response.getEvents()) {
            KeyValue kv = e.getKeyValue();
            if (e.getEventType() == WatchEvent.EventType.PUT) {
              watcher.onPut(kv.getLease(), kv.getModRevision());
            } else if (e.getEventType() == WatchEvent.EventType.DELETE) {
              watcher.onDelete(kv.getModRevision());
            }
          }
        },
        t -> {
          // jetcd would resume by itself, from a revision of its own choosing: end here, the owner re-reads the key
          if (ended.compareAndSet(false, true)) {
            watcher.onEnded(EtcdSupport.unwrap(t));
          }
        },
        () -> {
          if (ended.compareAndSet(false, true)) {
            watcher.onEnded(new DiscoveryException(DiscoveryException.Code.UNAVAILABLE,
                "watch of " + key + " ended"));
          }
        }));
    return () -> {
      ended.set(true);
      try {
        w.close();
      } catch (RuntimeException e) {
        log.debug("closing the watch of {} failed", key, e);
      }
    };
  }

  @Override
  public CompletableFuture<Boolean> putIfHeld(String key, byte[] value, long lease) {
    return ifHeld(EtcdSupport.bytes(key), key, lease,
        k -> Op.put(k, ByteSequence.from(value), PutOption.builder().withLeaseId(lease).build()), "updating", 0);
  }

  @Override
  public CompletableFuture<Void> put(List<String> keys, byte[] value, long lease) {
    Op[] ops = keys.stream()
        .map(key -> Op.put(EtcdSupport.bytes(key), ByteSequence.from(value),
            PutOption.builder().withLeaseId(lease).build()))
        .toArray(Op[]::new);
    return client.getKVClient().txn().Then(ops).commit().handle((r, err) -> {
      if (err != null) {
        throw EtcdSupport.unavailable("updating " + keys, err);
      }
      return null;
    });
  }

  @Override
  public CompletableFuture<Void> revoke(long lease) {
    return client.getLeaseClient().revoke(lease).handle((r, err) -> {
      if (err != null) {
        Throwable cause = EtcdSupport.unwrap(err);
        if (cause instanceof EtcdException e && e.getErrorCode() == ErrorCode.NOT_FOUND) {
          return null; // already gone
        }
        throw EtcdSupport.unavailable("revoking lease " + Long.toHexString(lease), err);
      }
      return null;
    });
  }

  @Override
  public AutoCloseable keepAlive(long lease, long ttlSeconds, Consumer<Throwable> onLost) {
    AtomicBoolean lost = new AtomicBoolean();
    CloseableClient handle = client.getLeaseClient().keepAlive(lease, new StreamObserver<>() {
      @Override
      public void onNext(LeaseKeepAliveResponse value) {}

      @Override
      public void onError(Throwable t) {
        Throwable cause = EtcdSupport.unwrap(t);
        if (cause instanceof EtcdException e && e.getErrorCode() == ErrorCode.NOT_FOUND) {
          if (lost.compareAndSet(false, true)) {
            onLost.accept(cause);
          }
        } else {
          // jetcd restarts its keep-alive stream by itself; if it cannot before the TTL, onCompleted follows.
          log.debug("keep-alive of lease {} interrupted: {}", Long.toHexString(lease), String.valueOf(cause));
        }
      }

      @Override
      public void onCompleted() {
        if (lost.compareAndSet(false, true)) {
          onLost.accept(new DiscoveryException(DiscoveryException.Code.SESSION_LOST,
              "keep-alive of lease " + Long.toHexString(lease) + " ended"));
        }
      }
    });
    return () -> {
      lost.set(true);
      handle.close();
    };
  }

  @Override
  public ScheduledExecutorService scheduler() {
    return scheduler;
  }

  /** Increments the counter at {@code counterKey} by compare-and-set; creates it with 1 if absent. */
  public static CompletableFuture<Long> allocateServerId(Client client, String counterKey,
      ScheduledExecutorService scheduler) {
    return allocate(client.getKVClient(), EtcdSupport.bytes(counterKey), counterKey, 0);
  }

  private static CompletableFuture<Long> allocate(KV kv, ByteSequence key, String name, int attempt) {
    if (attempt >= MAX_CAS_ATTEMPTS) {
      return CompletableFuture.failedFuture(new DiscoveryException(DiscoveryException.Code.CONFLICT,
          "could not increment '" + name + "' after " + MAX_CAS_ATTEMPTS + " attempts"));
    }
    return kv.get(key, GetOption.DEFAULT).thenCompose(g -> {
      long next;
      Cmp cmp;
      if (g.getKvs().isEmpty()) {
        next = 1;
        cmp = new Cmp(key, Cmp.Op.EQUAL, CmpTarget.createRevision(0));
      } else {
        KeyValue current = g.getKvs().get(0);
        String text = current.getValue().toString(StandardCharsets.UTF_8).trim();
        try {
          next = Long.parseLong(text) + 1;
        } catch (NumberFormatException e) {
          throw new DiscoveryException(DiscoveryException.Code.CONFLICT,
              "counter key '" + name + "' does not hold a decimal: '" + text + "'");
        }
        cmp = new Cmp(key, Cmp.Op.EQUAL, CmpTarget.modRevision(current.getModRevision()));
      }
      return kv.txn().If(cmp).Then(Op.put(key, EtcdSupport.bytes(Long.toString(next)), PutOption.DEFAULT))
          .commit()
          .thenCompose(r -> r.isSucceeded() ? CompletableFuture.completedFuture(next)
              : allocate(kv, key, name, attempt + 1));
    }).handle((v, err) -> {
      if (err != null) {
        throw EtcdSupport.unavailable("allocating a server id", err);
      }
      return v;
    });
  }
}
