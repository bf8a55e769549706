package io.connmgr.agent.internal;

import io.connmgr.agent.bootstrap.Hooks;
import io.connmgr.discovery.Discovery;
import io.connmgr.discovery.EtcdDiscovery;
import java.lang.ref.WeakReference;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's side of the channel-builder hooks: rewrites mapped targets to {@code session:///<role>} and gives
 * every channel to a {@code session} target connmgr's resolver and fail-fast interceptor, on the application's own
 * grpc-java (through a {@link BridgeLoader} per class loader).
 *
 * <p><b>Threading.</b> Thread-safe; called on application threads as they build channels. Nothing here waits for
 * etcd: the discovery connects lazily, and resolution runs on each channel's own synchronization context.
 */
final class ChannelHook implements Hooks.Handler {

  private static final Logger log = LoggerFactory.getLogger(ChannelHook.class);
  private static final String SESSION = "session:";

  private final AgentConfig config;
  private final ClassLoader world;
  /**
   * The interceptor per application class loader, held weakly: its class comes from a {@link BridgeLoader} whose
   * parent is the key, so a strong value would keep the key (a redeployed application) alive forever. The
   * application's own grpc-java keeps it alive meanwhile (its NameResolverRegistry holds the provider, which holds
   * the interceptor).
   */
  private final Map<ClassLoader, WeakReference<Object>> interceptors = new WeakHashMap<>();
  private final Set<String> announced = ConcurrentHashMap.newKeySet();
  private Discovery discovery;

  ChannelHook(AgentConfig config, ClassLoader world) {
    this.config = config;
    this.world = world;
  }

  @Override
  public String target(String target) {
    String hostPort = target;
    if (hostPort.startsWith("dns:///")) {
      hostPort = hostPort.substring("dns:///".length());
    }
    String role = config.targets().get(hostPort.toLowerCase(Locale.ROOT));
    if (role == null) {
      return target;
    }
    if (announced.add(target)) {
      log.info("channels to {} go to the live sessions of role {}", target, role);
    }
    // the fragment keeps the authority the application addressed (TLS host name, :authority header)
    return "session:///" + role + "#" + hostPort;
  }

  @Override
  public void onBuild(Object builder, String target, List<Object> list) {
    if (target == null || !target.startsWith(SESSION)) {
      return;
    }
    Object interceptor = interceptorFor(builder.getClass().getClassLoader());
    if (!list.contains(interceptor)) {
      list.add(0, interceptor);
    }
  }

  private synchronized Object interceptorFor(ClassLoader application) {
    WeakReference<Object> ref = interceptors.get(application);
    Object i = ref == null ? null : ref.get();
    if (i == null) {
      try {
        Class<?> bridge = Class.forName("io.connmgr.agent.internal.bridge.GrpcBridge", true,
            new BridgeLoader(application, world));
        @SuppressWarnings("unchecked")
        Function<Object, Object> f = (Function<Object, Object>) bridge.getConstructor().newInstance();
        i = f.apply(java.util.Map.of("discovery", discovery(), "allow", config.allow()));
      } catch (ReflectiveOperationException | LinkageError e) {
        log.error("cannot install connmgr on the gRPC of {}: {}; its channels work as without the agent",
            application, e.toString());
        throw new IllegalStateException(e);
      }
      interceptors.put(application, new WeakReference<>(i));
      log.debug("connmgr installed on the gRPC of {}", application);
    }
    return i;
  }

  /** The discovery, created on first use; built with the world as context class loader (Vert.x looks there). */
  synchronized Discovery discovery() {
    if (discovery == null) {
      Thread t = Thread.currentThread();
      ClassLoader previous = t.getContextClassLoader();
      t.setContextClassLoader(world);
      try {
        EtcdDiscovery.Builder b = EtcdDiscovery.builder().endpoints(config.etcd()).root(config.root())
            .retryBackoff(config.retryInitial(), config.retryMax());
        if (config.tlsCa() != null) {
          b.tls(config.tlsCa(), config.tlsCert(), config.tlsKey());
        }
        if (config.user() != null) {
          b.auth(config.user(), config.password());
        }
        discovery = b.build();
      } finally {
        t.setContextClassLoader(previous);
      }
    }
    return discovery;
  }
}
