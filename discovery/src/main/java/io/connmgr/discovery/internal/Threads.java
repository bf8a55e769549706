package io.connmgr.discovery.internal;

import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/** The one way connmgr makes its own threads: daemon, named, cancelled tasks removed at once. */
public final class Threads {

  private Threads() {}

  /**
   * A one-thread scheduler whose thread is a daemon named {@code name} (with a counter if it is ever replaced); its
   * {@code shutdown()} cancels the delayed and periodic tasks still pending.
   */
  public static ScheduledThreadPoolExecutor daemonScheduler(String name) {
    ScheduledThreadPoolExecutor s = new ScheduledThreadPoolExecutor(1, factory(name));
    s.setRemoveOnCancelPolicy(true);
    // shutdown() drops pending timers (a lease expiry a minute away, a backoff): the thread ends at once
    s.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
    s.setContinueExistingPeriodicTasksAfterShutdownPolicy(false);
    return s;
  }

  /** Daemon threads named {@code name}, then {@code name-2}, {@code name-3}, ... */
  public static ThreadFactory factory(String name) {
    AtomicInteger n = new AtomicInteger();
    return r -> {
      int i = n.incrementAndGet();
      Thread t = new Thread(r, i == 1 ? name : name + "-" + i);
      t.setDaemon(true);
      return t;
    };
  }
}
