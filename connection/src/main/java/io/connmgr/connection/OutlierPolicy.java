package io.connmgr.connection;

import java.time.Duration;
import java.util.Objects;

/**
 * Outlier detection that works for roles of any size, including the 1–4 servers of a coordinator or proxy role (where
 * grpc-java's own outlier detection, which needs 5 hosts, never acts). A READY server is <i>ejected</i> (marked
 * {@link ServerHealth#DEGRADED}: picked only when no healthy server of its role is left) when
 * <ul>
 *   <li>{@link #consecutiveFailures} of its calls in a row failed (checked as each call ends), or</li>
 *   <li>over one {@link #interval}, it ended at least {@link #minRequests} calls and its failure rate was at least
 *       {@link #failureRateMargin} above the failure rate of the rest of its role (so a role that fails alike — a
 *       dependency down, a bad request — ejects nobody).</li>
 * </ul>
 * A failure is a call that ended {@code UNAVAILABLE}, {@code INTERNAL}, {@code UNKNOWN}, {@code DATA_LOSS},
 * {@code RESOURCE_EXHAUSTED} or {@code DEADLINE_EXCEEDED}; application statuses ({@code NOT_FOUND},
 * {@code INVALID_ARGUMENT}, ...) and calls connmgr itself failed fast are not. An ejection lasts
 * {@link #baseEjection} × the number of times the server was ejected lately (capped at {@link #maxEjection}); the
 * count decays by one for each interval the server spends un-ejected. Never the last healthy READY server of a role,
 * and never more than {@link #maxEjectedShare} of its READY servers at once.
 *
 * @param consecutiveFailures failures in a row that eject at once; 0 turns that rule off
 * @param failureRateMargin   how far above the rest of the role a server's failure rate must be, in (0, 1]
 * @param minRequests         calls a server must have ended in an interval for its rate to count, at least 1
 * @param interval            how often rates are evaluated
 * @param baseEjection        the first ejection's length
 * @param maxEjection         the longest ejection
 * @param maxEjectedShare     the largest share of a role's READY servers ejected at once, in [0, 1]
 */
public record OutlierPolicy(int consecutiveFailures, double failureRateMargin, int minRequests, Duration interval,
    Duration baseEjection, Duration maxEjection, double maxEjectedShare) {

  /** 5 in a row, or 20 points above the rest of the role over ≥ 10 calls in 1 s; 10 s growing to 5 min; half. */
  public static final OutlierPolicy DEFAULT = new OutlierPolicy(5, 0.2, 10, Duration.ofSeconds(1),
      Duration.ofSeconds(10), Duration.ofMinutes(5), 0.5);

  /** No outlier detection. */
  public static final OutlierPolicy DISABLED = new OutlierPolicy(0, 1.0, Integer.MAX_VALUE, Duration.ofSeconds(1),
      Duration.ofSeconds(10), Duration.ofMinutes(5), 0.0);

  /**
   * Validates.
   *
   * @throws IllegalArgumentException naming the field ({@code outlier.<field>})
   */
  public OutlierPolicy {
    Objects.requireNonNull(interval, "outlier.interval");
    Objects.requireNonNull(baseEjection, "outlier.baseEjection");
    Objects.requireNonNull(maxEjection, "outlier.maxEjection");
    if (consecutiveFailures < 0) {
      throw new IllegalArgumentException("outlier.consecutiveFailures: must be 0 (off) or more, was "
          + consecutiveFailures);
    }
    if (!(failureRateMargin > 0 && failureRateMargin <= 1)) {
      throw new IllegalArgumentException("outlier.failureRateMargin: must be in (0, 1], was " + failureRateMargin);
    }
    if (minRequests < 1) {
      throw new IllegalArgumentException("outlier.minRequests: must be at least 1, was " + minRequests);
    }
    if (interval.compareTo(Duration.ofMillis(10)) < 0) {
      throw new IllegalArgumentException("outlier.interval: must be at least 10 ms, was " + interval);
    }
    if (baseEjection.isNegative() || baseEjection.isZero()) {
      throw new IllegalArgumentException("outlier.baseEjection: must be positive, was " + baseEjection);
    }
    if (maxEjection.compareTo(baseEjection) < 0) {
      throw new IllegalArgumentException("outlier.maxEjection: must be at least baseEjection (" + baseEjection
          + "), was " + maxEjection);
    }
    if (!(maxEjectedShare >= 0 && maxEjectedShare <= 1)) {
      throw new IllegalArgumentException("outlier.maxEjectedShare: must be in [0, 1], was " + maxEjectedShare);
    }
  }

  /** Whether this policy ever ejects. */
  public boolean enabled() {
    return maxEjectedShare > 0 && (consecutiveFailures > 0 || minRequests < Integer.MAX_VALUE);
  }

  /** A copy with another consecutive-failure threshold. */
  public OutlierPolicy withConsecutiveFailures(int value) {
    return new OutlierPolicy(value, failureRateMargin, minRequests, interval, baseEjection, maxEjection,
        maxEjectedShare);
  }

  /** A copy with another rate rule. */
  public OutlierPolicy withFailureRate(double margin, int minimumRequests, Duration every) {
    return new OutlierPolicy(consecutiveFailures, margin, minimumRequests, every, baseEjection, maxEjection,
        maxEjectedShare);
  }

  /** A copy with other ejection lengths. */
  public OutlierPolicy withEjection(Duration base, Duration max) {
    return new OutlierPolicy(consecutiveFailures, failureRateMargin, minRequests, interval, base, max,
        maxEjectedShare);
  }

  /** A copy with another share. */
  public OutlierPolicy withMaxEjectedShare(double value) {
    return new OutlierPolicy(consecutiveFailures, failureRateMargin, minRequests, interval, baseEjection,
        maxEjection, value);
  }
}
