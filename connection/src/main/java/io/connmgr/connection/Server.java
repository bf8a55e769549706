package io.connmgr.connection;

import io.connmgr.discovery.Session;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;

/**
 * One live server instance and the stable {@link Channel} handed to callers for it: its calls are refused at once
 * while the server cannot take them, else tracked on the pooled grpc-java channel.
 *
 * <p><b>Threading.</b> State changes happen on the manager's control thread; the fields the call path reads
 * ({@link #state}, {@link #session}, the tracker's refusal) are volatile. Fields marked control-thread are touched
 * nowhere else.
 */
final class Server extends Channel {

  /** Opens (or finds) the pooled channel of a server; any thread, never blocks. */
  interface Pool {
    ManagedChannel channel(Server server);
  }

  final ServerKey key;
  /** {@code key.serverId()}, one load away for the lookup tables. */
  final long serverId;
  final CallTracker calls;
  private final Pool pool;
  private final Executor callbacks;

  volatile Session session;
  volatile ServerState state = ServerState.IDLE;

  // control-thread only
  /** How many session keys name this instance (its own key, and the active key of an exclusive role). */
  int refs;
  boolean episodeActive;
  int attempt;
  long episodeStart;
  boolean wasDown;
  CompletableFuture<Void> pendingAttempt;
  Future<?> attemptTimeout;
  ManagedChannel watched;

  Server(ServerKey key, Session session, Pool pool, Executor callbacks) {
    this.key = key;
    this.serverId = key.serverId();
    this.session = session;
    this.pool = pool;
    this.callbacks = callbacks;
    this.calls = new CallTracker(key);
  }

  /** New calls fail with {@code status} from now on ({@code null}: they may proceed). */
  void refuse(Status status) {
    calls.refusal = status;
  }

  Status refusal() {
    return calls.refusal;
  }

  @Override
  public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
    Status refuse = calls.refusal;
    if (refuse != null) {
      return FailingCall.of(refuse, options, callbacks);
    }
    return calls.track(pool.channel(this).newCall(method, options));
  }

  @Override
  public String authority() {
    return key.address();
  }

  @Override
  public String toString() {
    return key + " " + state;
  }
}
