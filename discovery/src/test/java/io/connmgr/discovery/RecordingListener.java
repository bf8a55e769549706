package io.connmgr.discovery;

import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/** Records what a subscription delivers and keeps the resulting view; for tests. Thread-safe. */
public class RecordingListener extends SessionListener {

  public final List<SessionEvent> events = new CopyOnWriteArrayList<>();
  public final List<Long> synced = new CopyOnWriteArrayList<>();
  public final List<Throwable> disconnects = new CopyOnWriteArrayList<>();
  public final List<String> threads = new CopyOnWriteArrayList<>();
  private final Map<String, Session> view = new ConcurrentHashMap<>();

  @Override
  public void onEvent(SessionEvent event) {
    threads.add(Thread.currentThread().getName());
    if (event.type() == SessionEvent.Type.REMOVED) {
      view.remove(event.key());
    } else {
      view.put(event.key(), event.session());
    }
    events.add(event);
  }

  @Override
  public void onSynced(long revision) {
    synced.add(revision);
  }

  @Override
  public void onDisconnected(Throwable cause) {
    disconnects.add(cause);
  }

  /** The view: key to session, sorted by key. */
  public Map<String, Session> view() {
    return new TreeMap<>(view);
  }

  public List<SessionEvent> events(SessionEvent.Type type) {
    List<SessionEvent> out = new ArrayList<>();
    for (SessionEvent e : events) {
      if (e.type() == type) {
        out.add(e);
      }
    }
    return out;
  }

  public long count(Predicate<SessionEvent> p) {
    return events.stream().filter(p).count();
  }

  public void awaitSynced() {
    await().atMost(Duration.ofSeconds(20)).until(() -> !synced.isEmpty());
  }

  public SessionEvent awaitEvent(Predicate<SessionEvent> p) {
    await().atMost(Duration.ofSeconds(20)).until(() -> events.stream().anyMatch(p));
    return events.stream().filter(p).findFirst().orElseThrow();
  }
}
