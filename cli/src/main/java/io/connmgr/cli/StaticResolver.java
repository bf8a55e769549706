package io.connmgr.cli;

import io.grpc.EquivalentAddressGroup;
import io.grpc.ManagedChannel;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.StatusOr;
import io.grpc.netty.NettyChannelBuilder;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;

/**
 * The demo's baseline: a plain grpc-java {@code round_robin} channel over a fixed list of addresses, built as a user
 * without connmgr would ({@code static:///name}, a name resolver that always answers the same list). It knows nothing
 * of sessions: a server that restarts on its old address is simply reconnected by grpc-java.
 */
final class StaticResolver extends NameResolverProvider {

  static final String SCHEME = "static";

  private final List<EquivalentAddressGroup> addresses;

  private StaticResolver(List<InetSocketAddress> addresses) {
    this.addresses = addresses.stream().map(EquivalentAddressGroup::new).toList();
  }

  /**
   * A plaintext {@code round_robin} channel to {@code static:///name} resolving to {@code addresses}, with grpc-java's
   * defaults otherwise (no retry policy). The provider is in the default registry only while the channel is built
   * (the channel keeps the provider it found), since the per-builder resolver factory is deprecated.
   */
  static ManagedChannel roundRobin(String name, List<InetSocketAddress> addresses) {
    StaticResolver provider = new StaticResolver(addresses);
    NameResolverRegistry registry = NameResolverRegistry.getDefaultRegistry();
    synchronized (StaticResolver.class) {
      registry.register(provider);
      try {
        return NettyChannelBuilder.forTarget(SCHEME + ":///" + name)
            .defaultLoadBalancingPolicy("round_robin")
            .usePlaintext()
            .build();
      } finally {
        registry.deregister(provider);
      }
    }
  }

  @Override
  protected boolean isAvailable() {
    return true;
  }

  @Override
  protected int priority() {
    return 5;
  }

  @Override
  public String getDefaultScheme() {
    return SCHEME;
  }

  @Override
  public NameResolver newNameResolver(URI targetUri, NameResolver.Args args) {
    if (!SCHEME.equals(targetUri.getScheme())) {
      return null;
    }
    String authority = targetUri.getPath().isEmpty() ? SCHEME : targetUri.getPath().substring(1);
    return new NameResolver() {
      @Override
      public String getServiceAuthority() {
        return authority;
      }

      @Override
      public void start(Listener2 listener) {
        listener.onResult(ResolutionResult.newBuilder()
            .setAddressesOrError(StatusOr.fromValue(addresses)).build());
      }

      @Override
      public void shutdown() {}
    };
  }
}
