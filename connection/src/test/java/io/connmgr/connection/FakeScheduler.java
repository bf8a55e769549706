package io.connmgr.connection;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.Delayed;
import java.util.concurrent.FutureTask;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A scheduler whose time moves only when a test calls {@link #advance}. Due tasks run on the calling thread, in time
 * order. {@link #ticker()} reads its clock. Thread-safe.
 */
final class FakeScheduler extends AbstractExecutorService implements ScheduledExecutorService {

  private final AtomicLong now = new AtomicLong();
  private final PriorityQueue<Task<?>> queue = new PriorityQueue<>();
  private long seq;
  private boolean shutdown;

  long nanoTime() {
    return now.get();
  }

  java.util.function.LongSupplier ticker() {
    return now::get;
  }

  /** Tasks waiting. */
  synchronized int pending() {
    return queue.size();
  }

  /** Moves time forward by {@code d}, running every task that falls due. */
  void advance(Duration d) {
    long target = now.get() + d.toNanos();
    while (true) {
      Task<?> t;
      synchronized (this) {
        t = queue.peek();
        if (t == null || t.at > target) {
          break;
        }
        queue.poll();
        now.set(Math.max(now.get(), t.at));
      }
      t.run();
    }
    now.set(target);
  }

  private final class Task<V> extends FutureTask<V> implements ScheduledFuture<V> {
    final long at;
    final long order;

    Task(Callable<V> c, long at) {
      super(c);
      this.at = at;
      synchronized (FakeScheduler.this) {
        this.order = seq++;
      }
    }

    @Override
    public long getDelay(TimeUnit unit) {
      return unit.convert(at - now.get(), TimeUnit.NANOSECONDS);
    }

    @Override
    public int compareTo(Delayed o) {
      Task<?> t = (Task<?>) o;
      return at != t.at ? Long.compare(at, t.at) : Long.compare(order, t.order);
    }

    @Override
    public boolean cancel(boolean mayInterrupt) {
      synchronized (FakeScheduler.this) {
        queue.remove(this);
      }
      return super.cancel(mayInterrupt);
    }
  }

  private synchronized <V> Task<V> add(Callable<V> c, long delayNanos) {
    Task<V> t = new Task<>(c, now.get() + Math.max(0, delayNanos));
    queue.add(t);
    return t;
  }

  @Override
  public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
    return add(() -> {
      command.run();
      return null;
    }, unit.toNanos(delay));
  }

  @Override
  public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
    return add(callable, unit.toNanos(delay));
  }

  @Override
  public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
    throw new UnsupportedOperationException();
  }

  @Override
  public void execute(Runnable command) {
    schedule(command, 0, TimeUnit.NANOSECONDS);
  }

  @Override
  public synchronized void shutdown() {
    shutdown = true;
  }

  @Override
  public synchronized List<Runnable> shutdownNow() {
    shutdown = true;
    List<Runnable> out = new ArrayList<>(queue);
    queue.clear();
    return out;
  }

  @Override
  public synchronized boolean isShutdown() {
    return shutdown;
  }

  @Override
  public synchronized boolean isTerminated() {
    return shutdown && queue.isEmpty();
  }

  @Override
  public boolean awaitTermination(long timeout, TimeUnit unit) {
    return isTerminated();
  }

  @Override
  public <T> List<java.util.concurrent.Future<T>> invokeAll(Collection<? extends Callable<T>> tasks) {
    throw new UnsupportedOperationException();
  }
}
