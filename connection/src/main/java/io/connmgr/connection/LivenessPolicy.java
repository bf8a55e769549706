package io.connmgr.connection;

import java.time.Duration;
import java.util.Objects;

/**
 * How a frozen server (SIGSTOP, a long GC pause) or a dead network path is found while its connection stays open and
 * its session stays registered (with Milvus' defaults its lease would take 30 s to expire).
 *
 * <ul>
 *   <li><b>Liveness probe.</b> Every {@link #probeInterval}, each READY server with calls in flight gets a
 *       {@code grpc.health.v1.Health/Check} with a {@link #probeTimeout} deadline on its own connection. Any answer,
 *       even {@code UNIMPLEMENTED} from a server without the health service, proves the process is alive; no answer
 *       within the timeout marks the server {@link ServerState#DOWN} and fails its calls in flight at once (role
 *       channels re-issue those that may be). Probing goes on over the same connection; the first answer makes the
 *       server READY again (reported as restored). A server that does not answer a probe within the timeout while
 *       alive (a pause longer than the timeout) is treated the same: size the timeout above the pauses you accept.
 *       Needs nothing of the server.</li>
 *   <li><b>HTTP/2 keepalive</b> (default Netty channels only; a {@link ChannelCustomizer} may override): a PING after
 *       {@link #keepAliveTime} without reads while calls are open ({@code keepAliveWithoutCalls} off), the connection
 *       closed if unanswered within {@link #keepAliveTimeout}. It catches a dead path for streams that the probe does
 *       not cover and is the floor for everything else. <b>Servers must permit</b> a PING every
 *       {@link #keepAliveTime} while calls are open: grpc-java {@code NettyServerBuilder.permitKeepAliveTime(10,
 *       SECONDS)} (its default, 5 min, answers more frequent pings with GOAWAY {@code too_many_pings}); grpc-go
 *       {@code keepalive.EnforcementPolicy{MinTime: 10 * time.Second}} or less (Milvus sets 5 s). grpc-java never
 *       pings more often than every 10 s.</li>
 * </ul>
 *
 * @param probeInterval    how often servers with calls in flight are probed; {@link Duration#ZERO} turns probes off
 * @param probeTimeout     how long a probe may take before its server is declared down
 * @param keepAliveTime    HTTP/2 PING after this long without reads; {@link Duration#ZERO}: grpc-java's default (off)
 * @param keepAliveTimeout how long a PING may go unanswered
 */
public record LivenessPolicy(Duration probeInterval, Duration probeTimeout, Duration keepAliveTime,
    Duration keepAliveTimeout) {

  /** Probes every 500 ms with a 1.5 s timeout (a frozen server is found within about 2 s); PING after 10 s, 5 s. */
  public static final LivenessPolicy DEFAULT = new LivenessPolicy(Duration.ofMillis(500), Duration.ofMillis(1500),
      Duration.ofSeconds(10), Duration.ofSeconds(5));

  /** No probes and grpc-java's keepalive defaults (off). */
  public static final LivenessPolicy DISABLED = new LivenessPolicy(Duration.ZERO, Duration.ofSeconds(1),
      Duration.ZERO, Duration.ofSeconds(20));

  /**
   * Validates.
   *
   * @throws IllegalArgumentException naming the field ({@code liveness.<field>})
   */
  public LivenessPolicy {
    Objects.requireNonNull(probeInterval, "liveness.probeInterval");
    Objects.requireNonNull(probeTimeout, "liveness.probeTimeout");
    Objects.requireNonNull(keepAliveTime, "liveness.keepAliveTime");
    Objects.requireNonNull(keepAliveTimeout, "liveness.keepAliveTimeout");
    if (probeInterval.isNegative() || (!probeInterval.isZero() && probeInterval.toMillis() < 10)) {
      throw new IllegalArgumentException("liveness.probeInterval: must be 0 (off) or at least 10 ms, was "
          + probeInterval);
    }
    if (probeTimeout.toMillis() < 10) {
      throw new IllegalArgumentException("liveness.probeTimeout: must be at least 10 ms, was " + probeTimeout);
    }
    if (keepAliveTime.isNegative() || (!keepAliveTime.isZero() && keepAliveTime.compareTo(Duration.ofSeconds(10)) < 0)) {
      throw new IllegalArgumentException("liveness.keepAliveTime: must be 0 (grpc-java's default) or at least 10 s "
          + "(grpc-java's floor), was " + keepAliveTime);
    }
    if (keepAliveTimeout.isNegative() || keepAliveTimeout.isZero()) {
      throw new IllegalArgumentException("liveness.keepAliveTimeout: must be positive, was " + keepAliveTimeout);
    }
  }

  /** Whether servers with calls in flight are probed. */
  public boolean probing() {
    return !probeInterval.isZero();
  }

  /** A copy with other probe settings. */
  public LivenessPolicy withProbe(Duration interval, Duration timeout) {
    return new LivenessPolicy(interval, timeout, keepAliveTime, keepAliveTimeout);
  }

  /** A copy with other keepalive settings. */
  public LivenessPolicy withKeepAlive(Duration time, Duration timeout) {
    return new LivenessPolicy(probeInterval, probeTimeout, time, timeout);
  }
}
