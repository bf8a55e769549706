package io.connmgr.discovery.internal;

import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Exponential backoff with "equal jitter": attempt n waits between half and all of min(max, initial * 2^n).
 * Immutable and thread-safe.
 */
public record Backoff(Duration initial, Duration max) {

  public Backoff {
    if (initial.isNegative() || initial.isZero()) {
      throw new IllegalArgumentException("initial backoff must be positive: " + initial);
    }
    if (max.compareTo(initial) < 0) {
      throw new IllegalArgumentException("max backoff " + max + " is below initial " + initial);
    }
  }

  /** The delay before retry number {@code attempt} (0-based), in nanoseconds. */
  public long delayNanos(int attempt) {
    long base = initial.toNanos();
    long cap = max.toNanos();
    long exp = attempt >= 30 ? cap : Math.min(cap, base << attempt);
    long half = exp / 2;
    return half + ThreadLocalRandom.current().nextLong(half + 1);
  }
}
