package io.connmgr.connection;

import java.time.Duration;
import java.util.Objects;

/**
 * How a server is connected: up to {@code maxAttempts} attempts, each given {@code attemptTimeout} to reach READY,
 * separated by exponential backoff from {@code initialBackoff}, multiplied by {@code multiplier}, capped at
 * {@code maxBackoff}, each delay randomized by ±{@code jitter} (a fraction). Immutable.
 *
 * <p><b>Defaults</b> ({@link #DEFAULT}): 6 attempts, 3 s per attempt, backoff 0.5 s ×2 up to 15 s, jitter 0.5 — about
 * 15 s of waiting in all (0.5 + 1 + 2 + 4 + 8 s, ±50%). Milvus' design doc retries 3 times 30 s apart; that leaves a
 * caller without a dependency for a minute after a restart that usually takes seconds, and its fixed interval makes
 * every client of a restarted server retry in lock-step. Exponential backoff reconnects a quickly restarted server
 * within a second, the jitter spreads the herd, and the cap bounds the work to 6 attempts per server per episode.
 * After the last attempt the server is OFFLINE until its session changes or {@link ConnectionManager#reconnect} is
 * called: nothing spins.
 */
public record RetryPolicy(int maxAttempts, Duration attemptTimeout, Duration initialBackoff, double multiplier,
    Duration maxBackoff, double jitter) {

  /** The defaults described above. */
  public static final RetryPolicy DEFAULT = new RetryPolicy(6, Duration.ofSeconds(3), Duration.ofMillis(500), 2.0,
      Duration.ofSeconds(15), 0.5);

  /**
   * Validates each field.
   *
   * @throws IllegalArgumentException naming the field
   */
  public RetryPolicy {
    Objects.requireNonNull(attemptTimeout, "retry.attemptTimeout");
    Objects.requireNonNull(initialBackoff, "retry.initialBackoff");
    Objects.requireNonNull(maxBackoff, "retry.maxBackoff");
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("retry.maxAttempts: must be at least 1, was " + maxAttempts);
    }
    if (attemptTimeout.isZero() || attemptTimeout.isNegative()) {
      throw new IllegalArgumentException("retry.attemptTimeout: must be positive, was " + attemptTimeout);
    }
    if (initialBackoff.isZero() || initialBackoff.isNegative()) {
      throw new IllegalArgumentException("retry.initialBackoff: must be positive, was " + initialBackoff);
    }
    if (multiplier < 1.0) {
      throw new IllegalArgumentException("retry.multiplier: must be at least 1.0, was " + multiplier);
    }
    if (maxBackoff.compareTo(initialBackoff) < 0) {
      throw new IllegalArgumentException("retry.maxBackoff: must be at least initialBackoff, was " + maxBackoff);
    }
    if (jitter < 0 || jitter >= 1) {
      throw new IllegalArgumentException("retry.jitter: must be in [0, 1), was " + jitter);
    }
  }

  /** A copy with another number of attempts. */
  public RetryPolicy withMaxAttempts(int attempts) {
    return new RetryPolicy(attempts, attemptTimeout, initialBackoff, multiplier, maxBackoff, jitter);
  }

  /** A copy with another backoff. */
  public RetryPolicy withBackoff(Duration initial, double mult, Duration max) {
    return new RetryPolicy(maxAttempts, attemptTimeout, initial, mult, max, jitter);
  }

  /** A copy with another per-attempt timeout. */
  public RetryPolicy withAttemptTimeout(Duration timeout) {
    return new RetryPolicy(maxAttempts, timeout, initialBackoff, multiplier, maxBackoff, jitter);
  }
}
