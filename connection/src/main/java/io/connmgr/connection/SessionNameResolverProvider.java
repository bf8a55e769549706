package io.connmgr.connection;

import io.connmgr.connection.internal.CallTracker;
import io.connmgr.discovery.Discovery;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import io.grpc.Attributes;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientStreamTracer;
import io.grpc.EquivalentAddressGroup;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code session} target scheme for grpc-java, registered through {@code META-INF/services}:
 * {@code ManagedChannelBuilder.forTarget("session:///querynode")} resolves the live, not-stopping sessions of role
 * {@code querynode} and balances over them with {@code round_robin}.
 *
 * <p>Where the sessions come from: {@code session://host:port/role} reads the etcd at {@code http://host:port};
 * {@code session:///role} reads the etcd named by the system property {@code connmgr.etcd} or the environment
 * variable {@code CONNMGR_ETCD} (comma-separated URLs). The session prefix is {@code connmgr.root} /
 * {@code CONNMGR_ROOT}, Milvus' {@code by-dev/meta/session/} by default. The channel's authority is the role, or the
 * target's fragment if it has one: {@code session:///querynode#milvus-querynode:19530} keeps the host name a load
 * balancer address had, for TLS host name checks and the {@code :authority} header. A provider built with
 * {@link #SessionNameResolverProvider(Discovery)} uses that discovery for every target (register it with a
 * {@link NameResolverRegistry} of your own).
 *
 * <p>Fail fast: add {@link #failFast()} to the channel ({@code .intercept(SessionNameResolverProvider.failFast())}) and
 * when a session is removed, the calls in flight to that server — and only those — fail at once with
 * {@code UNAVAILABLE: querynode-7 (10.0.0.7:21123) deregistered}; the interceptor also sends the {@code ServerID}
 * header of the server each call lands on. Without it, grpc-java stops picking the server and lets its calls run until
 * their deadline.
 *
 * <p><b>Threading.</b> Thread-safe. Resolution runs on the channel's synchronization context; nothing blocks.
 */
public final class SessionNameResolverProvider extends NameResolverProvider {

  private static final Logger log = LoggerFactory.getLogger(SessionNameResolverProvider.class);

  /** The scheme. */
  public static final String SCHEME = "session";

  private final Discovery fixed;
  private final Map<String, Shared> shared = new HashMap<>();
  private final Calls calls = new Calls();

  /** The provider grpc-java loads through {@code META-INF/services}. */
  public SessionNameResolverProvider() {
    this.fixed = null;
  }

  /** A provider that resolves every {@code session} target against {@code discovery}. */
  public SessionNameResolverProvider(Discovery discovery) {
    this.fixed = discovery;
  }

  /**
   * The interceptor that tracks calls per server on channels to {@code session} targets, from the provider
   * registered in grpc-java's default registry.
   */
  public static ClientInterceptor failFast() {
    NameResolverProvider p = NameResolverRegistry.getDefaultRegistry().getProviderForScheme(SCHEME);
    if (p instanceof SessionNameResolverProvider s) {
      return s.interceptor();
    }
    throw new IllegalStateException("no SessionNameResolverProvider in grpc-java's default registry");
  }

  /** This provider's call-tracking interceptor. */
  public ClientInterceptor interceptor() {
    return calls;
  }

  @Override
  protected boolean isAvailable() {
    return true;
  }

  /** 5; 6 for a provider built with a discovery of its own, so that one registered by hand wins. */
  @Override
  protected int priority() {
    return fixed != null ? 6 : 5;
  }

  @Override
  public String getDefaultScheme() {
    return SCHEME;
  }

  @Override
  public java.util.Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
    return List.of(InetSocketAddress.class);
  }

  @Override
  public NameResolver newNameResolver(URI target, NameResolver.Args args) {
    if (!SCHEME.equals(target.getScheme())) {
      return null;
    }
    String path = target.getPath() == null ? "" : target.getPath();
    String role = path.startsWith("/") ? path.substring(1) : path;
    if (role.isEmpty() || role.contains("/")) {
      throw new IllegalArgumentException("session target '" + target + "' must name one role: session:///<role>");
    }
    String endpoints;
    if (fixed != null) {
      endpoints = "<fixed>";
    } else if (target.getAuthority() != null && !target.getAuthority().isEmpty()) {
      endpoints = "http://" + target.getAuthority();
    } else {
      endpoints = setting("connmgr.etcd", "CONNMGR_ETCD", null);
      if (endpoints == null) {
        throw new IllegalArgumentException("session target '" + target + "' names no etcd: use session://host:port/"
            + role + " or set -Dconnmgr.etcd / CONNMGR_ETCD");
      }
    }
    String authority = target.getFragment() != null && !target.getFragment().isEmpty() ? target.getFragment() : role;
    return new Resolver(role, authority, endpoints, args);
  }

  private static String setting(String property, String env, String def) {
    String v = System.getProperty(property);
    if (v == null || v.isBlank()) {
      v = System.getenv(env);
    }
    return v == null || v.isBlank() ? def : v;
  }

  private static final class Shared {
    final Discovery discovery;
    int refs;

    Shared(Discovery discovery) {
      this.discovery = discovery;
    }
  }

  private synchronized Discovery acquire(String endpoints) {
    if (fixed != null) {
      return fixed;
    }
    Shared s = shared.computeIfAbsent(endpoints, e -> new Shared(EtcdDiscovery.builder().endpoints(e)
        .layout(KeyLayout.withRoot(setting("connmgr.root", "CONNMGR_ROOT", KeyLayout.DEFAULT_ROOT))).build()));
    s.refs++;
    return s.discovery;
  }

  private synchronized void release(String endpoints) {
    if (fixed != null) {
      return;
    }
    Shared s = shared.get(endpoints);
    if (s != null && --s.refs == 0) {
      shared.remove(endpoints);
      s.discovery.close();
    }
  }

  /** Resolves one role; all state lives on the channel's synchronization context. */
  private final class Resolver extends NameResolver {
    private final String role;
    private final String authority;
    private final String endpoints;
    private final Args args;
    private final Map<String, Session> sessions = new TreeMap<>();
    private Subscription subscription;
    private Listener2 listener;
    private boolean synced;

    Resolver(String role, String authority, String endpoints, Args args) {
      this.role = role;
      this.authority = authority;
      this.endpoints = endpoints;
      this.args = args;
    }

    @Override
    public String getServiceAuthority() {
      return authority;
    }

    @Override
    public void start(Listener2 l) {
      this.listener = l;
      Discovery d = acquire(endpoints);
      subscription = d.subscribe(role, new SessionListener() {
        @Override
        public void onEvent(SessionEvent e) {
          if (e.type() == SessionEvent.Type.REMOVED) {
            sessions.remove(e.key());
            calls.failAll(e.session().address(), Status.UNAVAILABLE.withDescription(
                e.session().role() + "-" + e.session().serverId() + " (" + e.session().address() + ") "
                    + e.reason()));
          } else {
            sessions.put(e.key(), e.session());
          }
          if (synced) {
            publish();
          }
        }

        @Override
        public void onSynced(long revision) {
          synced = true;
          publish();
        }
      }, args.getSynchronizationContext());
    }

    private void publish() {
      List<EquivalentAddressGroup> groups = new ArrayList<>();
      Map<String, Long> seen = new HashMap<>();
      for (Session s : sessions.values()) {
        if (s.stopping() || seen.containsKey(s.address())) {
          continue; // a stopping server takes no new calls; its calls in flight drain
        }
        seen.put(s.address(), s.serverId());
        calls.serverIds.put(s.address(), s.serverId());
        groups.add(new EquivalentAddressGroup(new InetSocketAddress(s.host(), s.port())));
      }
      if (groups.isEmpty()) {
        listener.onError(Status.UNAVAILABLE.withDescription("no live session of role " + role));
        return;
      }
      ConfigOrError config = args.getServiceConfigParser().parseServiceConfig(
          Map.of("loadBalancingConfig", List.of(Map.of("round_robin", Map.of()))));
      // setAddresses, not setAddressesOrError: the agent runs this class on the application's grpc-java, 1.60 and up
      listener.onResult(ResolutionResult.newBuilder().setAddresses(groups).setServiceConfig(config).build());
    }

    @Override
    public void shutdown() {
      if (subscription != null) {
        subscription.close();
      }
      release(endpoints);
    }
  }

  /** Tracks calls by the server address their stream landed on. */
  private static final class Calls implements ClientInterceptor {
    final Map<String, Set<Tracked<?, ?>>> byAddress = new ConcurrentHashMap<>();
    final Map<String, Long> serverIds = new ConcurrentHashMap<>();

    void failAll(String address, Status status) {
      Set<Tracked<?, ?>> set = byAddress.remove(address);
      int n = 0;
      if (set != null) {
        for (Tracked<?, ?> t : set) {
          if (t.failFast(status)) {
            n++;
          }
        }
      }
      serverIds.remove(address);
      if (n > 0) {
        log.info("{} call(s) in flight to {} failed: {}", n, address, status.getDescription());
      }
    }

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
      Tracked<Q, R> t = new Tracked<>();
      ClientCall<Q, R> call = next.newCall(method, options.withStreamTracerFactory(t.tracerFactory()));
      t.init(call);
      return t;
    }

    private final class Tracked<Q, R> extends ForwardingClientCall<Q, R> {
      private ClientCall<Q, R> delegate;
      private volatile Status failure;
      private volatile String address;

      void init(ClientCall<Q, R> call) {
        this.delegate = call;
      }

      @Override
      protected ClientCall<Q, R> delegate() {
        return delegate;
      }

      ClientStreamTracer.Factory tracerFactory() {
        return new ClientStreamTracer.Factory() {
          @Override
          public ClientStreamTracer newClientStreamTracer(ClientStreamTracer.StreamInfo info, Metadata headers) {
            return new ClientStreamTracer() {
              @Override
              public void streamCreated(Attributes transportAttrs, Metadata headers) {
                SocketAddress remote = transportAttrs.get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
                if (remote instanceof InetSocketAddress isa) {
                  String addr = isa.getAddress().getHostAddress() + ":" + isa.getPort();
                  address = addr;
                  Long id = serverIds.get(addr);
                  if (id != null) {
                    headers.discardAll(CallTracker.SERVER_ID);
                    headers.put(CallTracker.SERVER_ID, Long.toString(id));
                  }
                  byAddress.computeIfAbsent(addr, a -> ConcurrentHashMap.newKeySet()).add(Tracked.this);
                }
              }
            };
          }
        };
      }

      @Override
      public void start(Listener<R> listener, Metadata headers) {
        super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<R>(listener) {
          @Override
          public void onClose(Status status, Metadata trailers) {
            String a = address;
            if (a != null) {
              Set<Tracked<?, ?>> set = byAddress.get(a);
              if (set != null) {
                set.remove(Tracked.this);
              }
            }
            Status f = failure;
            super.onClose(f != null ? f : status, f != null ? new Metadata() : trailers);
          }
        }, headers);
      }

      boolean failFast(Status status) {
        synchronized (this) {
          if (failure != null) {
            return false;
          }
          failure = status;
        }
        delegate.cancel(status.getDescription(), null);
        return true;
      }
    }
  }
}
