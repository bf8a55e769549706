package io.connmgr.discovery.internal;

import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.atomic.AtomicInteger;

/** The one way connmgr makes its own threads: daemon, named, cancelled tasks removed at once. */
public final class Threads {

  private Threads() {}

  /** A one-thread scheduler whose thread is a daemon named {@code name} (with a counter if it is ever replaced). */
  public static ScheduledThreadPoolExecutor daemonScheduler(String name) {
    AtomicInteger n = new AtomicInteger();
    ScheduledThreadPoolExecutor s = new ScheduledThreadPoolExecutor(1, r -> {
      int i = n.incrementAndGet();
      Thread t = new Thread(r, i == 1 ? name : name + "-" + i);
      t.setDaemon(true);
      return t;
    });
    s.setRemoveOnCancelPolicy(true);
    return s;
  }
}
