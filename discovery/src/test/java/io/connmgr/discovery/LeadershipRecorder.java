package io.connmgr.discovery;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Records a registration's listener calls in order: {@code acquired}, {@code lost:<reason>}, {@code sessionLost},
 * {@code restored}. Thread-safe.
 */
final class LeadershipRecorder extends RegistrationListener {

  final List<String> calls = new CopyOnWriteArrayList<>();

  @Override
  public void onSessionLost(Session session, Throwable cause) {
    calls.add("sessionLost");
  }

  @Override
  public void onSessionRestored(Session session) {
    calls.add("restored");
  }

  @Override
  public void onLeadershipAcquired(Session session) {
    calls.add("acquired");
  }

  @Override
  public void onLeadershipLost(Session session, String reason) {
    calls.add("lost:" + reason);
  }

  long acquired() {
    return calls.stream().filter(c -> c.equals("acquired")).count();
  }

  List<String> lost() {
    return calls.stream().filter(c -> c.startsWith("lost:")).map(c -> c.substring("lost:".length())).toList();
  }

  int indexOf(String prefix) {
    for (int i = 0; i < calls.size(); i++) {
      if (calls.get(i).startsWith(prefix)) {
        return i;
      }
    }
    return -1;
  }

  @Override
  public String toString() {
    return calls.toString();
  }
}
