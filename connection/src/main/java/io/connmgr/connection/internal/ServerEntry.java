package io.connmgr.connection.internal;

import io.connmgr.connection.ServerKey;
import io.connmgr.connection.ServerState;
import io.connmgr.discovery.Session;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * One live server: its session, state, calls in flight, and the stable {@link Channel} handed to callers. State
 * changes happen on the manager's control thread; the fields read by the call path are volatile.
 */
public final class ServerEntry {

  public final ServerKey key;
  /** {@code key.serverId()}, one load away for the lookup tables. */
  public final long serverId;
  public final CallTracker calls;
  public final Channel channel;
  private final Function<ServerEntry, ManagedChannel> pool;

  public volatile Session session;
  public volatile ServerState state = ServerState.IDLE;
  /** When non-null, new calls fail with this status (removed, stopping, offline, manager closed). */
  public volatile Status refusal;

  // control-thread only
  public final Set<String> sessionKeys = new HashSet<>();
  public boolean episodeActive;
  public int attempt;
  public long episodeStart;
  public boolean wasDown;
  public CompletableFuture<Void> pendingAttempt;
  public ManagedChannel watched;

  public ServerEntry(ServerKey key, Session session, Function<ServerEntry, ManagedChannel> pool) {
    this.key = key;
    this.serverId = key.serverId();
    this.session = session;
    this.pool = pool;
    this.calls = new CallTracker(Long.toString(key.serverId()), () -> refusal);
    this.channel = new EntryChannel();
  }

  /** The entry's calls: refused at once when the server cannot take them, else tracked on the pooled channel. */
  private final class EntryChannel extends Channel {
    @Override
    public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
      Status refuse = refusal;
      if (refuse != null) {
        return FailingChannel.failingCall(refuse);
      }
      return calls.track(pool.apply(ServerEntry.this).newCall(method, options));
    }

    @Override
    public String authority() {
      return key.address();
    }

    @Override
    public String toString() {
      return "connmgr channel to " + key;
    }
  }

  @Override
  public String toString() {
    return key + " " + state;
  }
}
