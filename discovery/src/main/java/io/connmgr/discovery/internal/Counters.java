package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryStats;
import java.util.concurrent.atomic.LongAdder;

/** Mutable counters behind {@link DiscoveryStats}; thread-safe. One instance per discovery. */
public final class Counters {
  public final LongAdder eventsDelivered = new LongAdder();
  public final LongAdder invalidValues = new LongAdder();
  public final LongAdder resyncs = new LongAdder();
  public final LongAdder watchRestarts = new LongAdder();
  public final LongAdder listenerErrors = new LongAdder();

  public DiscoveryStats snapshot() {
    return new DiscoveryStats(eventsDelivered.sum(), invalidValues.sum(), resyncs.sum(), watchRestarts.sum(),
        listenerErrors.sum());
  }
}
