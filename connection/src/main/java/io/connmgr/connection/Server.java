package io.connmgr.connection;

import io.connmgr.discovery.Session;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Future;

/**
 * One live server instance, its call tracker, and the stable {@link io.grpc.Channel} handed to callers for it, in one
 * object: its calls are refused at once while the server cannot take them, else tracked on the pooled grpc-java
 * channel.
 *
 * <p><b>Threading.</b> State changes happen on the manager's control thread; the fields the call path reads
 * ({@link #state}, {@link #session}, the tracker's refusal) are volatile. Fields marked control-thread are touched
 * nowhere else.
 */
final class Server extends CallTracker {

  /** Opens (or finds) the pooled channel of a server; any thread, never blocks. */
  interface Pool {
    ManagedChannel channel(Server server);
  }

  final ServerKey key;
  /** {@code key.serverId()}, one load away for the lookup tables. */
  final long serverId;
  private final Context context;

  volatile Session session;
  volatile ServerState state = ServerState.IDLE;
  /** Set by the pool when it adds a channel for this server: a server never called costs no pool lookup on removal. */
  volatile boolean pooled;

  // control-thread only
  /** How many session keys name this instance (its own key, and the active key of an exclusive role). */
  int refs;
  boolean wasDown;
  /** The connect episode under way, or {@code null}: an idle server carries none of its fields. */
  Episode episode;
  ManagedChannel watched;
  /** The role's {@link RoleIndex}: queued for re-evaluation, in its id table, its indexes in the pick lists. */
  boolean queued;
  boolean indexed;
  int readyIndex = -1;
  int pickableIndex = -1;

  /**
   * What every server of one manager shares: the pool and the executor of refused calls. {@code null} for the servers
   * of a {@code session} resolver, which are only call trackers and never handed out as channels.
   */
  record Context(Pool pool, Executor callbacks) {}

  /** One connect episode's state (control thread). */
  static final class Episode {
    final long start;
    int attempt;
    CompletableFuture<Void> pending;
    Future<?> timeout;

    Episode(long start) {
      this.start = start;
    }
  }

  Server(ServerKey key, Session session, Context context) {
    super(key);
    this.key = key;
    this.serverId = key.serverId();
    this.session = session;
    this.context = context;
  }

  /** New calls fail with {@code status} from now on ({@code null}: they may proceed). */
  void refuse(Status status) {
    refusal = status;
  }

  Status refusal() {
    return refusal;
  }

  @Override
  public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
    Status refuse = refusal;
    if (refuse != null) {
      return FailingCall.of(refuse, options, context.callbacks());
    }
    ManagedChannel ch;
    try {
      ch = context.pool().channel(this);
    } catch (RuntimeException e) {
      return FailingCall.of(Status.UNAVAILABLE.withDescription("cannot open a channel to " + key).withCause(e),
          options, context.callbacks());
    }
    return track(ch.newCall(method, options));
  }

  /** The pooled grpc-java channel of this server, opened if need be; any thread, never blocks. */
  ManagedChannel channel() {
    return context.pool().channel(this);
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
