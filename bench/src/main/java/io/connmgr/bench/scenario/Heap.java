package io.connmgr.bench.scenario;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

/**
 * Heap in use after full collections, from {@link MemoryMXBean}: the difference of two readings around the creation
 * of N objects, divided by N, estimates the retained heap per object (no agent, no JOL). Readings settle after a few
 * {@code System.gc()} calls; the estimate's noise is a few hundred KiB, so N should make the total several MiB.
 */
public final class Heap {

  private static final MemoryMXBean MEMORY = ManagementFactory.getMemoryMXBean();

  private Heap() {}

  /** Heap used after repeated full collections, in bytes. */
  public static long usedAfterGc() {
    long last = Long.MAX_VALUE;
    for (int i = 0; i < 6; i++) {
      System.gc();
      long used = MEMORY.getHeapMemoryUsage().getUsed();
      if (i >= 2 && Math.abs(last - used) < 64 * 1024) {
        return used;
      }
      last = used;
    }
    return last;
  }
}
