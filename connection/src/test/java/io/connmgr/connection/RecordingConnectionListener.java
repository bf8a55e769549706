package io.connmgr.connection;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Records listener calls as strings, for tests. */
class RecordingConnectionListener extends ConnectionListener {
  final List<String> calls = new CopyOnWriteArrayList<>();

  @Override
  public void connectStarted(ServerKey server, int attempt) {
    calls.add("connectStarted " + server.role() + "-" + server.serverId() + " #" + attempt);
  }

  @Override
  public void connectSucceeded(ServerKey server, Duration took) {
    calls.add("connectSucceeded " + server.role() + "-" + server.serverId());
  }

  @Override
  public void connectFailed(ServerKey server, int attempt, Throwable cause) {
    calls.add("connectFailed " + server.role() + "-" + server.serverId() + " #" + attempt);
  }

  @Override
  public void offline(ServerKey server) {
    calls.add("offline " + server.role() + "-" + server.serverId());
  }

  @Override
  public void down(ServerKey server) {
    calls.add("down " + server.role() + "-" + server.serverId());
  }

  @Override
  public void restored(ServerKey server) {
    calls.add("restored " + server.role() + "-" + server.serverId());
  }

  @Override
  public void stopping(ServerKey server) {
    calls.add("stopping " + server.role() + "-" + server.serverId());
  }

  @Override
  public void removed(ServerKey server, String reason) {
    calls.add("removed " + server.role() + "-" + server.serverId() + " " + reason);
  }

  @Override
  public void callsFailedFast(ServerKey server, int count) {
    calls.add("failedFast " + server.role() + "-" + server.serverId() + " " + count);
  }

  @Override
  public void healthChanged(ServerKey server, ServerHealth from, ServerHealth to, String reason) {
    calls.add("health " + server.role() + "-" + server.serverId() + " " + to + " " + reason);
  }

  @Override
  public void ejected(ServerKey server, Duration duration, String reason) {
    calls.add("ejected " + server.role() + "-" + server.serverId() + " " + duration.toMillis() + "ms " + reason);
  }

  @Override
  public void activeChanged(String role, ServerKey from, ServerKey to) {
    calls.add("active " + role + " " + (from == null ? "-" : from.serverId()) + " -> "
        + (to == null ? "-" : to.serverId()));
  }

  @Override
  public void stateChanged(ManagerState from, ManagerState to) {
    calls.add("state " + to);
  }

  long count(String prefix) {
    return calls.stream().filter(c -> c.startsWith(prefix)).count();
  }

  @Override
  public void reissued(ServerKey from, ServerKey to, String fullMethodName, io.grpc.Status cause) {
    calls.add("reissued " + from.role() + "-" + from.serverId() + " -> " + to.role() + "-" + to.serverId());
  }

  @Override
  public void reissueBudgetExhausted(String role, ServerKey from, String fullMethodName) {
    calls.add("budgetExhausted " + role + " " + from.role() + "-" + from.serverId());
  }
}
