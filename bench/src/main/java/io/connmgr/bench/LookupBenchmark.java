package io.connmgr.bench;

import io.connmgr.connection.ConnectionManager;
import io.connmgr.connection.ConnectionOptions;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.grpc.Channel;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The hot path: the channel of one server ({@code connmgr-channel}: {@link ConnectionManager#channel}), a pick over a
 * role ({@code connmgr-pick}), beside a {@code ConcurrentHashMap.get} on the same keys ({@code chm-get}), in one run.
 * 100 sessions of one role; keys cycle per thread.
 *
 * <p>Run: {@code java -jar bench/target/benchmarks.jar LookupBenchmark -prof gc}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class LookupBenchmark {

  private static final int SERVERS = 100;

  /** The implementation under test. */
  @Param({"connmgr-channel", "connmgr-pick", "chm-get"})
  public String impl;

  private interface Lookup {
    Channel lookup(int i);
  }

  private InMemoryRegistry registry;
  private ConnectionManager cm;
  private Lookup lookup;
  private final long[] ids = new long[SERVERS];
  private final Long[] boxed = new Long[SERVERS];

  /** Per-thread cursor over the keys. */
  @State(Scope.Thread)
  public static class Cursor {
    int next;
  }

  @Setup(Level.Trial)
  public void setUp() throws Exception {
    registry = InMemoryRegistry.create();
    for (int i = 0; i < SERVERS; i++) {
      ids[i] = 1000 + i * 7L;
      boxed[i] = ids[i];
      registry.kv().put(registry.layout().sessionKey("querynode", ids[i]),
          SessionCodec.encode(Session.builder("querynode", "127.0.0.1:" + (20000 + i)).serverId(ids[i]).build()));
    }
    cm = ConnectionManager.create(ConnectionOptions.builder(registry).roles("querynode").build());
    cm.start().get(10, TimeUnit.SECONDS);
    ConcurrentHashMap<Long, Channel> map = new ConcurrentHashMap<>();
    for (int i = 0; i < SERVERS; i++) {
      map.put(boxed[i], cm.channel("querynode", ids[i]));
    }
    lookup = switch (impl) {
      case "connmgr-channel" -> i -> cm.channel("querynode", ids[i]);
      case "connmgr-pick" -> i -> cm.pick("querynode");
      case "chm-get" -> i -> map.get(boxed[i]);
      default -> throw new IllegalArgumentException(impl);
    };
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    cm.close();
    registry.close();
  }

  @Benchmark
  public Channel lookup(Cursor c) {
    int i = c.next;
    c.next = i + 1 == SERVERS ? 0 : i + 1;
    return lookup.lookup(i);
  }
}
