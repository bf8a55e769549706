package io.connmgr.connection;

import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * The re-issue budget of one role (Finagle's retry budget): over a sliding window of ten one-second slots, re-issues
 * may not exceed {@code ratio} × the calls started plus {@code perSecond} × 10. A call start costs one
 * {@link LongAdder} increment; the window is brought up to date only when a re-issue asks for a token.
 *
 * <p><b>Threading.</b> Thread-safe: {@link #deposit()} is lock-free; {@link #tryWithdraw()} takes this object's lock
 * (re-issues only).
 */
final class RetryBudget {

  private static final int SLOTS = 10;
  private static final long SLOT_NANOS = 1_000_000_000L;

  private final double ratio;
  private final int perSecond;
  private final LongSupplier ticker;
  private final LongAdder calls = new LongAdder();

  // guarded by this
  private final long[] slotCalls = new long[SLOTS];
  private final long[] slotSpent = new long[SLOTS];
  /** The slot the window was last brought up to (from construction on: calls before a first re-issue are spread). */
  private long slot;
  private long callsSeen;

  RetryBudget(double ratio, int perSecond, LongSupplier ticker) {
    this.ratio = ratio;
    this.perSecond = perSecond;
    this.ticker = ticker;
    this.slot = Math.floorDiv(ticker.getAsLong(), SLOT_NANOS);
  }

  /** A call started. */
  void deposit() {
    calls.increment();
  }

  /** Takes one re-issue from the budget; false if it is spent. */
  synchronized boolean tryWithdraw() {
    long now = Math.floorDiv(ticker.getAsLong(), SLOT_NANOS);
    long elapsed = now - slot;
    for (long s = slot + 1; s <= now && s <= slot + SLOTS; s++) {
      int i = (int) Math.floorMod(s, SLOTS);
      slotCalls[i] = 0;
      slotSpent[i] = 0;
    }
    slot = now;
    int current = (int) Math.floorMod(now, SLOTS);
    long total = calls.sum();
    long delta = total - callsSeen;
    callsSeen = total;
    // calls counted since the last withdrawal are put in the current slot; after a long quiet spell only a window's
    // worth of them (at their average rate) is, so an hour of calls does not buy an hour of re-issues
    slotCalls[current] += elapsed > SLOTS ? delta * SLOTS / elapsed : delta;
    long windowCalls = 0;
    long windowSpent = 0;
    for (int i = 0; i < SLOTS; i++) {
      windowCalls += slotCalls[i];
      windowSpent += slotSpent[i];
    }
    if (windowSpent + 1 > ratio * windowCalls + (double) perSecond * SLOTS) {
      return false;
    }
    slotSpent[current]++;
    return true;
  }
}
