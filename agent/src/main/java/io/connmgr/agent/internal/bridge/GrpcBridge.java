package io.connmgr.agent.internal.bridge;

import io.connmgr.connection.AddressAllowList;
import io.connmgr.connection.SessionNameResolverProvider;
import io.connmgr.discovery.Discovery;
import io.grpc.NameResolverRegistry;
import java.util.Map;
import java.util.function.Function;

/**
 * Runs in a {@code BridgeLoader}, on the application's grpc-java: registers connmgr's {@code session} name resolver
 * in that grpc-java's default registry, fed by the agent's discovery, and returns its fail-fast interceptor (as an
 * {@code Object}: the agent's world has no type for the application's {@code ClientInterceptor}).
 */
public final class GrpcBridge implements Function<Object, Object> {

  /** {@code settings}: {@code discovery} (a {@link Discovery}) and {@code allow} (the allow-list's entries). */
  @Override
  public Object apply(Object settings) {
    Map<?, ?> m = (Map<?, ?>) settings;
    SessionNameResolverProvider provider = new SessionNameResolverProvider((Discovery) m.get("discovery"),
        AddressAllowList.parse((String) m.get("allow")));
    NameResolverRegistry.getDefaultRegistry().register(provider);
    return provider.interceptor();
  }
}
