package io.connmgr.connection;

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
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import io.grpc.internal.GrpcAttributes;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code session} target scheme for grpc-java, registered through {@code META-INF/services}:
 * {@code ManagedChannelBuilder.forTarget("session:///querynode")} resolves the live, not-stopping sessions of role
 * {@code querynode} and balances over them with {@code round_robin}. When the role has no live session left, new calls
 * fail at once with {@code UNAVAILABLE: no live session of role querynode} (a thin balancer around round_robin, so
 * that it does not keep using the servers it had), until a session appears.
 *
 * <p>Where the sessions come from: {@code session://host:port/role} reads the etcd at {@code http://host:port};
 * {@code session:///role} reads the etcd named by the system property {@code connmgr.etcd} or the environment
 * variable {@code CONNMGR_ETCD} (comma-separated URLs). The session prefix is {@code connmgr.root} /
 * {@code CONNMGR_ROOT}, Milvus' {@code by-dev/meta/session/} by default. TLS and authentication to etcd:
 * {@code connmgr.etcd.cacert}, {@code connmgr.etcd.cert}, {@code connmgr.etcd.key} (PEM files; with a CA,
 * {@code session://host:port/role} uses {@code https://}), {@code connmgr.etcd.user} and
 * {@code connmgr.etcd.password.file}, or the environment variables {@code CONNMGR_ETCD_CACERT} ...
 * {@code CONNMGR_ETCD_PASSWORD_FILE}, and {@code CONNMGR_ETCD_PASSWORD} for the password itself (never a system
 * property); a value that is not usable fails the channel's resolution with {@code UNAVAILABLE} naming the property.
 * Sessions whose address is not on the allow-list in {@code connmgr.allow} / {@code CONNMGR_ALLOW} (comma-separated
 * {@link AddressAllowList} entries: {@code 10.0.0.0/8,*.svc.cluster.local}; unset: every address) are ignored as
 * by a manager's {@link ConnectionOptions.Builder#allowAddresses allowAddresses}, through the same code; a value that
 * does not parse fails the channel's resolution with {@code UNAVAILABLE} naming {@code connmgr.allow} and the entry.
 * The channel's authority is the role, or the
 * target's fragment if it has one: {@code session:///querynode#milvus-querynode:19530} keeps the host name a load
 * balancer address had, for TLS host name checks and the {@code :authority} header. A provider built with
 * {@link #SessionNameResolverProvider(Discovery)} uses that discovery for every target (register it with a
 * {@link NameResolverRegistry} of your own).
 *
 * <p>Fail fast: add {@link #failFast()} to the channel ({@code .intercept(SessionNameResolverProvider.failFast())}) and
 * when a session is removed, the calls in flight to that server — and only those — fail at once with
 * {@code UNAVAILABLE: querynode-7 (10.0.0.7:21123) deregistered}; the interceptor also sends the {@code ServerID}
 * header of the server each call lands on. Without it, grpc-java stops picking the server and lets its calls run until
 * their deadline. Calls are tracked per resolver (so per channel) and per server instance: two roles or two etcd
 * clusters behind one address never fail each other's calls, and a stream that grpc-java re-creates on another
 * transport moves with it.
 *
 * <p><b>Threading.</b> Thread-safe. Resolution runs on the channel's synchronization context; nothing blocks there:
 * host names that are not IP literals are resolved on the channel's offload executor.
 */
public final class SessionNameResolverProvider extends NameResolverProvider {

  private static final Logger log = LoggerFactory.getLogger(SessionNameResolverProvider.class);

  /** The scheme. */
  public static final String SCHEME = "session";

  /** The balancer policy the resolver asks for: round_robin that fails picks while the role has no live session. */
  static final String POLICY = "connmgr_session_round_robin";

  /** The tracker slot of an address, in each {@link EquivalentAddressGroup}'s attributes. */
  static final Attributes.Key<AddressSlot> SLOT = Attributes.Key.create("connmgr.session.slot");

  /** On the calls of a re-issuing interceptor: the call, whose tried servers the balancer must not pick again. */
  static final CallOptions.Key<ReissuingCall<?, ?>> TRIED = CallOptions.Key.create("connmgr.session.tried");

  private final Discovery fixed;
  /** The allow-list given to the constructor, or {@code null}: {@code connmgr.allow} at each resolver's start. */
  private final AddressAllowList allow;
  private final Map<String, Shared> shared = new HashMap<>();
  private final ClientInterceptor interceptor = new Interceptor();

  /** The provider grpc-java loads through {@code META-INF/services}. */
  public SessionNameResolverProvider() {
    this.fixed = null;
    this.allow = null;
  }

  /**
   * A provider that resolves every {@code session} target against {@code discovery}; the allow-list is
   * {@code connmgr.allow}'s.
   */
  public SessionNameResolverProvider(Discovery discovery) {
    this.fixed = Objects.requireNonNull(discovery, "discovery");
    this.allow = null;
  }

  /**
   * A provider that resolves every {@code session} target against {@code discovery} and ignores the sessions whose
   * address {@code allow} does not allow ({@code connmgr.allow} is not read).
   */
  public SessionNameResolverProvider(Discovery discovery, AddressAllowList allow) {
    this.fixed = Objects.requireNonNull(discovery, "discovery");
    this.allow = Objects.requireNonNull(allow, "allow");
  }

  /**
   * The allow-list of a new resolver: the constructor's, else {@code connmgr.allow} / {@code CONNMGR_ALLOW}.
   *
   * @throws IllegalArgumentException {@code "connmgr.allow: allow-list entry '...': ..."}
   */
  private AddressAllowList allowList() {
    if (allow != null) {
      return allow;
    }
    try {
      return AddressAllowList.parse(setting("connmgr.allow", "CONNMGR_ALLOW", null));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("connmgr.allow: " + e.getMessage(), e);
    }
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

  /** This provider's call-tracking interceptor (any provider's works: the calls are tracked per resolver). */
  public ClientInterceptor interceptor() {
    return interceptor;
  }

  /**
   * An interceptor that does what {@link #failFast()} does and also re-issues calls as a
   * {@link ConnectionManager#roleChannel role channel} does: a call whose server goes (deregistered, lease expired),
   * or whose connection fails, before anything of the response reached the application is started again on another
   * server of the role — any call the server never processed, and a call already sent when its method is idempotent
   * or safe — as {@code policy} allows; the channel's balancer never picks a server the call tried. Use one
   * interceptor per channel: its re-issue budget is the channel's.
   *
   * <pre>{@code ManagedChannelBuilder.forTarget("session:///querynode")
   *     .intercept(SessionNameResolverProvider.reissuing(ReissuePolicy.DEFAULT)).usePlaintext().build();}</pre>
   *
   * With {@link ReissuePolicy#DISABLED} it is {@link #failFast()}.
   */
  public static ClientInterceptor reissuing(ReissuePolicy policy) {
    Objects.requireNonNull(policy, "policy");
    return policy.enabled() ? new SessionReissue(policy) : new Interceptor();
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
      endpoints = (etcdTls() ? "https://" : "http://") + target.getAuthority();
    } else {
      endpoints = setting("connmgr.etcd", "CONNMGR_ETCD", null);
      if (endpoints == null) {
        throw new IllegalArgumentException("session target '" + target + "' names no etcd: use session://host:port/"
            + role + " or set -Dconnmgr.etcd / CONNMGR_ETCD");
      }
    }
    SessionBalancer.register();
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

  /**
   * TLS and authentication to etcd from the system properties {@code connmgr.etcd.cacert}, {@code .cert}, {@code .key},
   * {@code .user}, {@code .password.file} (or the environment variables {@code CONNMGR_ETCD_CACERT}, ...,
   * {@code CONNMGR_ETCD_PASSWORD_FILE}); the password may also come from {@code CONNMGR_ETCD_PASSWORD}, never from a
   * system property (those show in {@code ps} and {@code jcmd}).
   *
   * @throws IllegalArgumentException naming the property whose value is not usable
   */
  private static EtcdDiscovery.Builder etcdSecurity(EtcdDiscovery.Builder b) {
    String ca = setting("connmgr.etcd.cacert", "CONNMGR_ETCD_CACERT", null);
    String cert = setting("connmgr.etcd.cert", "CONNMGR_ETCD_CERT", null);
    String key = setting("connmgr.etcd.key", "CONNMGR_ETCD_KEY", null);
    String user = setting("connmgr.etcd.user", "CONNMGR_ETCD_USER", null);
    String passwordFile = setting("connmgr.etcd.password.file", "CONNMGR_ETCD_PASSWORD_FILE", null);
    try {
      if (ca != null) {
        b.tls(java.nio.file.Path.of(ca), cert == null ? null : java.nio.file.Path.of(cert),
            key == null ? null : java.nio.file.Path.of(key));
      } else if (cert != null || key != null) {
        throw new IllegalArgumentException("tls.ca: required with a client certificate");
      }
      if (user != null) {
        if (passwordFile != null) {
          b.auth(user, java.nio.file.Path.of(passwordFile));
        } else {
          String pw = System.getenv("CONNMGR_ETCD_PASSWORD");
          if (pw == null || pw.isEmpty()) {
            throw new IllegalArgumentException("password: user " + user + " needs connmgr.etcd.password.file or "
                + "CONNMGR_ETCD_PASSWORD");
          }
          b.auth(user, pw.toCharArray());
        }
      } else if (passwordFile != null) {
        throw new IllegalArgumentException("user: required with a password file");
      }
    } catch (IllegalArgumentException e) {
      String m = e.getMessage();
      m = m.replaceFirst("^tls\\.ca:", "connmgr.etcd.cacert:").replaceFirst("^tls\\.cert:", "connmgr.etcd.cert:")
          .replaceFirst("^tls\\.key:", "connmgr.etcd.key:").replaceFirst("^user:", "connmgr.etcd.user:")
          .replaceFirst("^password-file:", "connmgr.etcd.password.file:");
      throw new IllegalArgumentException(m, e);
    }
    return b;
  }

  private static boolean etcdTls() {
    return setting("connmgr.etcd.cacert", "CONNMGR_ETCD_CACERT", null) != null;
  }

  private synchronized Discovery acquire(String endpoints) {
    if (fixed != null) {
      return fixed;
    }
    Shared s = shared.computeIfAbsent(endpoints, e -> new Shared(etcdSecurity(EtcdDiscovery.builder().endpoints(e))
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

  /**
   * One address of one resolver, stable while the address is published: grpc-java keeps the attributes a transport
   * was created with, so the slot names the server instance now at that address.
   */
  static final class AddressSlot {
    volatile CallTracker current;
  }

  /** The server instance at the address a transport was created for, from its attributes; or {@code null}. */
  static CallTracker serverOf(Attributes transportAttrs) {
    Attributes eag = transportAttrs.get(GrpcAttributes.ATTR_CLIENT_EAG_ATTRS);
    AddressSlot slot = eag == null ? null : eag.get(SLOT);
    return slot == null ? null : slot.current;
  }

  /** Resolves one role; all state lives on the channel's synchronization context. */
  private final class Resolver extends NameResolver {
    private final String role;
    private final String authority;
    private final String endpoints;
    private final Args args;
    /** The role's server instances: the manager's own table, whose servers here are only call trackers. */
    private ServerTable table;
    private final ServerTable.Sink sink = new ServerTable.Sink() {
      @Override
      public void created(Server server) {}

      @Override
      public void removed(Server server, String reason) {
        int n = server.failAll(server.refusal());
        AddressSlot slot = slots.get(server.key.address());
        if (slot != null && slot.current == server) {
          slot.current = null;
        }
        if (n > 0) {
          log.info("{} call(s) in flight to {} failed: {}", n, server.key, server.refusal().getDescription());
        }
      }

      @Override
      public void stopping(Server server) {}

      @Override
      public void renewed(Server server) {}
    };
    private final Map<String, AddressSlot> slots = new HashMap<>();
    /** Host names resolved off the synchronization context: {@code host:port} to its address. */
    private final Map<String, InetSocketAddress> resolved = new HashMap<>();
    private final Set<String> resolving = new HashSet<>();
    private Subscription subscription;
    private Listener2 listener;
    private boolean synced;
    private boolean shutdown;

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
      Discovery d;
      AddressAllowList allowed;
      try {
        allowed = allowList();
        d = acquire(endpoints);
      } catch (IllegalArgumentException e) {
        log.error("session:///{}: {}", role, e.getMessage());
        l.onError(Status.UNAVAILABLE.withDescription("session:///" + role + ": " + e.getMessage()));
        return;
      }
      table = new ServerTable(d.layout(), (key, session) -> new Server(key, session, null), allowed,
          allow != null ? "the provider's allow-list" : "connmgr.allow");
      subscription = d.subscribe(role, new SessionListener() {
        @Override
        public void onEvent(SessionEvent e) {
          table.apply(e, sink);
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
      if (shutdown) {
        return;
      }
      ServerTable.Role r;
      while ((r = table.pollDirty()) != null) {
        r.publish(r.index.view(r.active, r.cursor)); // only this role's: the subscription is of this role
      }
      ServerTable.Role own = table.find(role);
      RoleView v = own == null ? null : own.view;
      List<EquivalentAddressGroup> groups = new ArrayList<>();
      Set<String> seen = new HashSet<>();
      for (Server k : v == null ? new Server[0] : v.all()) {
        Session s = k.session;
        String address = k.key.address();
        if (k.state == ServerState.STOPPING || !seen.add(address)) {
          continue; // a stopping server takes no new calls; its calls in flight drain
        }
        InetSocketAddress socket = socketAddress(s.host(), s.port(), address);
        if (socket == null) {
          continue; // being resolved; published again when done
        }
        AddressSlot slot = slots.computeIfAbsent(address, a -> new AddressSlot());
        slot.current = k;
        groups.add(new EquivalentAddressGroup(socket, Attributes.newBuilder().set(SLOT, slot).build()));
      }
      slots.keySet().retainAll(seen);
      ResolutionResult.Builder result = ResolutionResult.newBuilder().setAddresses(groups)
          .setServiceConfig(args.getServiceConfigParser().parseServiceConfig(
              Map.of("loadBalancingConfig", List.of(Map.of(POLICY, Map.of())))));
      if (groups.isEmpty()) {
        result.setAttributes(Attributes.newBuilder()
            .set(SessionBalancer.NO_ADDRESS, Status.UNAVAILABLE.withDescription("no live session of role " + role)).build());
      }
      // setAddresses, not setAddressesOrError: the agent runs this class on the application's grpc-java, 1.60 and up
      listener.onResult(result.build());
    }

    /** The socket address of {@code host}: at once for an IP literal; else resolved off the sync context. */
    private InetSocketAddress socketAddress(String host, int port, String address) {
      if (isIpLiteral(host)) {
        return new InetSocketAddress(host, port); // a literal: no lookup
      }
      InetSocketAddress r = resolved.get(address);
      if (r != null) {
        return r;
      }
      if (resolving.add(address)) {
        Executor offload = args.getOffloadExecutor();
        Runnable lookup = () -> {
          InetSocketAddress isa = new InetSocketAddress(host, port); // may block: DNS
          args.getSynchronizationContext().execute(() -> {
            resolving.remove(address);
            if (isa.isUnresolved()) {
              log.warn("cannot resolve the host of {} (role {}); it is skipped", address, role);
              return;
            }
            resolved.put(address, isa);
            publish();
          });
        };
        if (offload != null) {
          offload.execute(lookup);
        } else {
          ForkJoinPool.commonPool().execute(lookup);
        }
      }
      return null;
    }

    @Override
    public void shutdown() {
      shutdown = true;
      if (subscription != null) {
        subscription.close();
      }
      if (table != null) { // acquired
        release(endpoints);
      }
    }
  }

  static boolean isIpLiteral(String host) {
    if (host.indexOf(':') >= 0) {
      return true; // IPv6 (HostAndPort strips the brackets)
    }
    int dots = 0;
    for (int i = 0; i < host.length(); i++) {
      char c = host.charAt(i);
      if (c == '.') {
        dots++;
      } else if (c < '0' || c > '9') {
        return false;
      }
    }
    return dots == 3;
  }

  /** Tracks each call on the tracker of the server its stream lands on, from the transport's address attributes. */
  private static final class Interceptor implements ClientInterceptor {
    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
      CallTracker.TrackedCall<Q, R> call = new CallTracker.TrackedCall<>(null);
      ClientStreamTracer.Factory factory = new ClientStreamTracer.Factory() {
        @Override
        public ClientStreamTracer newClientStreamTracer(ClientStreamTracer.StreamInfo info, Metadata headers) {
          return new ClientStreamTracer() {
            @Override
            public void streamCreated(Attributes transportAttrs, Metadata streamHeaders) {
              CallTracker t = serverOf(transportAttrs);
              if (t != null) {
                streamHeaders.discardAll(CallTracker.SERVER_ID);
                streamHeaders.put(CallTracker.SERVER_ID, t.header());
                call.attach(t);
              }
            }
          };
        }
      };
      call.delegate = next.newCall(method, options.withStreamTracerFactory(factory));
      return call;
    }
  }
}
