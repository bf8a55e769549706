package io.connmgr.bench.scenario;

import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.Status;
import io.grpc.StatusOr;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The name resolver of the grpc-java {@code round_robin} baseline: a list of addresses the scenario edits by hand,
 * fed from the same raw etcd watch that times the deletion, so the baseline channel learns of a removed server at the
 * very moment etcd delivers it. Only one resolver per factory (one channel). Thread-safe: updates go through the
 * channel's synchronization context.
 */
public final class ManualResolver extends NameResolver.Factory {

  /** The target scheme: {@code manual:///name}. */
  public static final String SCHEME = "manual";

  private final Map<String, InetSocketAddress> addresses = new TreeMap<>();
  private Resolver resolver;

  /** Adds or replaces the address registered under {@code key} and publishes the list. */
  public void put(String key, InetSocketAddress address) {
    Resolver r;
    synchronized (this) {
      addresses.put(key, address);
      r = resolver;
    }
    if (r != null) {
      r.publishLater();
    }
  }

  /** Removes {@code key}'s address and publishes the list. */
  public void remove(String key) {
    Resolver r;
    synchronized (this) {
      if (addresses.remove(key) == null) {
        return;
      }
      r = resolver;
    }
    if (r != null) {
      r.publishLater();
    }
  }

  private synchronized List<EquivalentAddressGroup> groups() {
    List<EquivalentAddressGroup> g = new ArrayList<>();
    for (InetSocketAddress a : addresses.values()) {
      g.add(new EquivalentAddressGroup(a));
    }
    return g;
  }

  @Override
  public synchronized NameResolver newNameResolver(URI targetUri, NameResolver.Args args) {
    if (!SCHEME.equals(targetUri.getScheme())) {
      return null;
    }
    resolver = new Resolver(args);
    return resolver;
  }

  @Override
  public String getDefaultScheme() {
    return SCHEME;
  }

  private final class Resolver extends NameResolver {
    private final Args args;
    private Listener2 listener;

    Resolver(Args args) {
      this.args = args;
    }

    @Override
    public String getServiceAuthority() {
      return "manual";
    }

    @Override
    public void start(Listener2 l) {
      listener = l;
      publish();
    }

    void publishLater() {
      args.getSynchronizationContext().execute(this::publish);
    }

    private void publish() {
      if (listener == null) {
        return;
      }
      List<EquivalentAddressGroup> g = groups();
      if (g.isEmpty()) {
        listener.onError(Status.UNAVAILABLE.withDescription("no address"));
      } else {
        listener.onResult(ResolutionResult.newBuilder().setAddressesOrError(StatusOr.fromValue(g)).build());
      }
    }

    @Override
    public void shutdown() {
      listener = null;
    }
  }
}
