package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The re-issue budget on a fake clock. */
class RetryBudgetTest {

  private final AtomicLong now = new AtomicLong(TimeUnit.HOURS.toNanos(5));

  private int drain(RetryBudget b) {
    int n = 0;
    while (b.tryWithdraw()) {
      n++;
    }
    return n;
  }

  @Test
  void aWindowAllowsTheRatioOfItsCallsPlusTheFloor() {
    RetryBudget b = new RetryBudget(0.2, 1, now::get);
    for (int i = 0; i < 100; i++) {
      b.deposit();
    }
    assertThat(drain(b)).isEqualTo(30); // 20% of 100 calls + 1/s over the 10 s window
  }

  @Test
  void spentTokensComeBackAsTheWindowSlides() {
    RetryBudget b = new RetryBudget(0, 2, now::get);
    assertThat(drain(b)).isEqualTo(20);
    now.addAndGet(TimeUnit.SECONDS.toNanos(5));
    assertThat(drain(b)).isZero(); // the spent ones are still in the window
    now.addAndGet(TimeUnit.SECONDS.toNanos(6));
    assertThat(drain(b)).isEqualTo(20);
  }

  @Test
  void callsOfALongQuietSpellBuyOnlyAWindowsWorth() {
    RetryBudget b = new RetryBudget(0.5, 0, now::get);
    assertThat(b.tryWithdraw()).isFalse();
    for (int i = 0; i < 3600; i++) {
      b.deposit();
    }
    now.addAndGet(TimeUnit.SECONDS.toNanos(3600)); // an hour of 1 call/s
    assertThat(drain(b)).isEqualTo(5); // half of the 10 calls of the last window, not of 3600
  }

  @Test
  void callsBeforeTheFirstReissueAreSpreadOverTheirTimeToo() {
    RetryBudget b = new RetryBudget(0.5, 0, now::get);
    for (int i = 0; i < 3600; i++) {
      b.deposit();
    }
    now.addAndGet(TimeUnit.SECONDS.toNanos(3600)); // an hour of calls, then the first re-issue ever
    assertThat(drain(b)).isEqualTo(5);
  }

  @Test
  void aZeroBudgetRefusesEverything() {
    RetryBudget b = new RetryBudget(0, 0, now::get);
    b.deposit();
    assertThat(b.tryWithdraw()).isFalse();
  }
}
