package io.connmgr.connection;

import io.connmgr.discovery.Discovery;
import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.LongSupplier;

/**
 * Everything a {@link ConnectionManager} is built from. Immutable and thread-safe; made only by
 * {@link #builder(Discovery)}, whose setters check each value as it is set and name the field in the error.
 */
public final class ConnectionOptions {

  private final Discovery discovery;
  private final Set<String> roles;
  private final Set<String> dependencies;
  private final RetryPolicy retry;
  private final ReissuePolicy reissue;
  private final Map<String, String> healthChecks;
  private final OutlierPolicy outlier;
  private final LivenessPolicy liveness;
  private final Duration slowStart;
  private final StandbySignal standby;
  private final int maxChannels;
  private final Duration idleTimeout;
  private final Picker picker;
  private final ChannelCredentials credentials;
  private final ServerTls tls;
  private final Map<String, ServerTls> roleTls;
  private final AddressAllowList allowAddresses;
  private final ChannelCustomizer customizer;
  private final ChannelFactory channelFactory;
  private final ScheduledExecutorService scheduler;
  private final LongSupplier ticker;
  private final ConnectionListener listener;

  private ConnectionOptions(Builder b) {
    this.discovery = b.discovery;
    this.roles = Set.copyOf(b.roles);
    this.dependencies = Set.copyOf(b.dependencies);
    this.retry = b.retry;
    this.reissue = b.reissue;
    this.healthChecks = Map.copyOf(b.healthChecks);
    this.outlier = b.outlier;
    this.liveness = b.liveness;
    this.slowStart = b.slowStart;
    this.standby = b.standby;
    this.maxChannels = b.maxChannels;
    this.idleTimeout = b.idleTimeout;
    this.picker = b.picker;
    this.credentials = b.credentials;
    this.tls = b.tls;
    this.roleTls = Map.copyOf(b.roleTls);
    this.allowAddresses = b.allowAddresses;
    this.customizer = b.customizer;
    this.channelFactory = b.channelFactory;
    this.scheduler = b.scheduler;
    this.ticker = b.ticker;
    this.listener = b.listener;
  }

  /** A builder over {@code discovery}. */
  public static Builder builder(Discovery discovery) {
    return new Builder(discovery);
  }

  /** Where sessions come from (etcd, a static file, an in-memory registry). */
  public Discovery discovery() {
    return discovery;
  }

  /** The roles this client uses; empty means every role. */
  public Set<String> roles() {
    return roles;
  }

  /**
   * Roles connected eagerly, in parallel, as soon as their sessions are known, and required for
   * {@link ManagerState#HEALTHY}; a subset of {@link #roles()} when roles is not empty.
   */
  public Set<String> dependencies() {
    return dependencies;
  }

  /** The connect retry policy. */
  public RetryPolicy retry() {
    return retry;
  }

  /** How role channels re-issue calls on another server. */
  public ReissuePolicy reissue() {
    return reissue;
  }

  /** Roles whose servers' grpc.health.v1 {@code Watch} is followed, each with the service name it asks about. */
  public Map<String, String> healthChecks() {
    return healthChecks;
  }

  /** Outlier detection. */
  public OutlierPolicy outlier() {
    return outlier;
  }

  /** Liveness probes and HTTP/2 keepalive. */
  public LivenessPolicy liveness() {
    return liveness;
  }

  /** How long a new or restored server's share of picks takes to ramp up; zero when off. */
  public Duration slowStart() {
    return slowStart;
  }

  /** The reply status that means "I am a standby" on calls through {@code active(role)}. */
  public StandbySignal standby() {
    return standby;
  }

  /** The pool's size bound; least recently used channels beyond it close gracefully. */
  public int maxChannels() {
    return maxChannels;
  }

  /** Channels unused this long close gracefully (and reopen on next use). */
  public Duration idleTimeout() {
    return idleTimeout;
  }

  /** How {@link ConnectionManager#pick(String)} chooses. */
  public Picker picker() {
    return picker;
  }

  /**
   * The credentials of the default channel factory for the roles without a {@link #tls(String) ServerTls}: plaintext
   * unless set.
   */
  public ChannelCredentials credentials() {
    return credentials;
  }

  /** The TLS of every role without one of its own ({@link Builder#tls(ServerTls)}), or {@code null}. */
  public ServerTls tls() {
    return tls;
  }

  /**
   * The TLS to {@code role}'s servers: the role's own ({@link Builder#tls(String, ServerTls)}), else the one of every
   * role ({@link Builder#tls(ServerTls)}), else {@code null} ({@link #credentials()} apply).
   */
  public ServerTls tls(String role) {
    ServerTls t = roleTls.get(role);
    return t != null ? t : tls;
  }

  /** The roles with a {@link ServerTls} of their own. */
  public Map<String, ServerTls> roleTls() {
    return roleTls;
  }

  /** The addresses sessions may have; sessions elsewhere are ignored. {@link AddressAllowList#ALL} by default. */
  public AddressAllowList allowAddresses() {
    return allowAddresses;
  }

  /** Customises each channel the default factory builds. */
  public ChannelCustomizer customizer() {
    return customizer;
  }

  /**
   * The factory given to {@link Builder#channelFactory}, or {@code null}: each manager then builds Netty channels
   * itself, with {@link #tls(String)} or {@link #credentials()}, the liveness keepalive and {@link #customizer()} (a
   * manager owns its TLS material, re-read as the files change, so the default factory is the manager's, not the
   * options').
   */
  public ChannelFactory channelFactory() {
    return channelFactory;
  }

  /** Timers for retries and attempt timeouts, or {@code null} for the manager's own thread. */
  public ScheduledExecutorService scheduler() {
    return scheduler;
  }

  /** Nanosecond clock for durations and idle expiry. */
  public LongSupplier ticker() {
    return ticker;
  }

  /** Observes connects, removals, fail-fast cancellations and state changes. */
  public ConnectionListener listener() {
    return listener;
  }

  @Override
  public String toString() {
    return "ConnectionOptions{roles=" + roles + ", dependencies=" + dependencies + ", retry=" + retry
        + ", reissue=" + reissue + ", healthChecks=" + healthChecks + ", outlier=" + outlier + ", liveness="
        + liveness + ", slowStart=" + slowStart + ", maxChannels=" + maxChannels + ", idleTimeout=" + idleTimeout + ", picker="
        + picker + (tls == null ? "" : ", tls=" + tls) + (roleTls.isEmpty() ? "" : ", roleTls=" + roleTls)
        + (allowAddresses.allowsAll() ? "" : ", allowAddresses=" + allowAddresses.entries()) + "}";
  }

  /** Builds {@link ConnectionOptions}; not thread-safe. */
  public static final class Builder {
    private final Discovery discovery;
    private final Set<String> roles = new LinkedHashSet<>();
    private final Set<String> dependencies = new LinkedHashSet<>();
    private RetryPolicy retry = RetryPolicy.DEFAULT;
    private ReissuePolicy reissue = ReissuePolicy.DEFAULT;
    private final Map<String, String> healthChecks = new LinkedHashMap<>();
    private OutlierPolicy outlier = OutlierPolicy.DEFAULT;
    private LivenessPolicy liveness = LivenessPolicy.DEFAULT;
    private Duration slowStart = Duration.ZERO;
    private StandbySignal standby = StandbySignal.DEFAULT;
    private int maxChannels = 10_000;
    private Duration idleTimeout = Duration.ofMinutes(30);
    private Picker picker = Picker.ROUND_ROBIN;
    private ChannelCredentials credentials = InsecureChannelCredentials.create();
    private ServerTls tls;
    private final Map<String, ServerTls> roleTls = new LinkedHashMap<>();
    private AddressAllowList allowAddresses = AddressAllowList.ALL;
    private ChannelCustomizer customizer = ChannelCustomizer.NONE;
    private ChannelFactory channelFactory;
    private ScheduledExecutorService scheduler;
    private LongSupplier ticker = System::nanoTime;
    private ConnectionListener listener = ConnectionListener.NONE;

    private Builder(Discovery discovery) {
      this.discovery = Objects.requireNonNull(discovery, "discovery");
    }

    /** Only these roles are tracked (default: every role). Case-sensitive. */
    public Builder roles(String... values) {
      for (String r : values) {
        roles.add(requireRole(r, "roles"));
      }
      return this;
    }

    /** Roles connected eagerly and required for HEALTHY (they are tracked too). */
    public Builder dependsOn(String... values) {
      for (String r : values) {
        dependencies.add(requireRole(r, "dependsOn"));
      }
      return this;
    }

    /** The connect retry policy; {@link RetryPolicy#DEFAULT} by default. */
    public Builder retry(RetryPolicy value) {
      this.retry = Objects.requireNonNull(value, "retry");
      return this;
    }

    /**
     * How {@link ConnectionManager#roleChannel role channels} re-issue calls on another server;
     * {@link ReissuePolicy#DEFAULT} by default, {@link ReissuePolicy#DISABLED} to turn it off.
     */
    public Builder reissue(ReissuePolicy value) {
      this.reissue = Objects.requireNonNull(value, "reissue");
      return this;
    }

    /**
     * Follows the grpc.health.v1 {@code Watch} of each connected server of {@code role} for {@code service} (the empty
     * string: the server as a whole): a server that says anything but SERVING is {@link ServerHealth#DEGRADED} — used
     * only when no healthy server of its role is left — until it says SERVING again; a server without the health
     * service ({@code UNIMPLEMENTED}, logged once) counts as healthy. Until its first answer a newly connected server
     * counts as degraded. Off for every role by default. The role is tracked too.
     */
    public Builder healthCheck(String role, String service) {
      requireRole(role, "healthCheck");
      Objects.requireNonNull(service, "healthCheck: service");
      healthChecks.put(role, service);
      return this;
    }

    /** Outlier detection; {@link OutlierPolicy#DEFAULT} by default, {@link OutlierPolicy#DISABLED} to turn it off. */
    public Builder outlier(OutlierPolicy value) {
      this.outlier = Objects.requireNonNull(value, "outlier");
      return this;
    }

    /**
     * Liveness probes and HTTP/2 keepalive; {@link LivenessPolicy#DEFAULT} by default (see it for what servers must
     * permit), {@link LivenessPolicy#DISABLED} to turn both off.
     */
    public Builder liveness(LivenessPolicy value) {
      this.liveness = Objects.requireNonNull(value, "liveness");
      return this;
    }

    /**
     * Slow start: for {@code window} after a server becomes READY (new, restored, reconnected), a pick that chose it
     * keeps it with a probability growing linearly from 10% to 100%, so a cold process gets a growing share of calls
     * instead of a full one at once. Zero (the default) turns it off.
     */
    public Builder slowStart(Duration window) {
      Objects.requireNonNull(window, "slowStart");
      if (window.isNegative()) {
        throw new IllegalArgumentException("slowStart: must not be negative, was " + window);
      }
      this.slowStart = window;
      return this;
    }

    /** The reply that means "I am a standby"; {@link StandbySignal#DEFAULT} by default. */
    public Builder standbySignal(StandbySignal value) {
      this.standby = Objects.requireNonNull(value, "standbySignal");
      return this;
    }

    /** The pool's size bound; 10,000 by default. */
    public Builder maxChannels(int value) {
      if (value < 1) {
        throw new IllegalArgumentException("maxChannels: must be at least 1, was " + value);
      }
      this.maxChannels = value;
      return this;
    }

    /** How long an unused channel stays open; 30 minutes by default. */
    public Builder idleTimeout(Duration value) {
      Objects.requireNonNull(value, "idleTimeout");
      if (value.isZero() || value.isNegative()) {
        throw new IllegalArgumentException("idleTimeout: must be positive, was " + value);
      }
      this.idleTimeout = value;
      return this;
    }

    /** How {@link ConnectionManager#pick} chooses; round robin by default. */
    public Builder picker(Picker value) {
      this.picker = Objects.requireNonNull(value, "picker");
      return this;
    }

    /**
     * The credentials of the default channel factory for the roles without a {@link ServerTls}; plaintext
     * ({@code InsecureChannelCredentials}) by default. Prefer {@link #tls(ServerTls)}: it re-reads certificate files
     * as they change and verifies each server against a name of your choice or its session's host name; credentials
     * set here are used as they are (with grpc-java's host name check against the session's address host).
     */
    public Builder credentials(ChannelCredentials value) {
      this.credentials = Objects.requireNonNull(value, "credentials");
      return this;
    }

    /**
     * TLS (or mutual TLS) to the servers of every role that has no {@link #tls(String, ServerTls) TLS of its own};
     * these roles do not use {@link #credentials}. Not set by default. Only the default channel factory applies it:
     * {@link #build()} refuses it together with a {@link #channelFactory}.
     */
    public Builder tls(ServerTls value) {
      this.tls = Objects.requireNonNull(value, "tls");
      return this;
    }

    /**
     * TLS (or mutual TLS) to the servers of {@code role}, instead of {@link #tls(ServerTls)} or {@link #credentials}.
     * Does not make the role tracked.
     */
    public Builder tls(String role, ServerTls value) {
      requireRole(role, "tls[" + role + "]");
      roleTls.put(role, Objects.requireNonNull(value, "tls[" + role + "]"));
      return this;
    }

    /**
     * Only sessions whose address is on {@code value} are used; the others are ignored as if absent (their calls are
     * never made), with one WARN per session key and address, and counted
     * ({@link ConnectionStats.RoleStats#disallowedSessions()}). A known server whose session moves to an address off
     * the list is removed: its calls in flight fail at once, saying the address is not allowed.
     * {@link AddressAllowList#ALL} (every address) by default.
     */
    public Builder allowAddresses(AddressAllowList value) {
      this.allowAddresses = Objects.requireNonNull(value, "allowAddresses");
      return this;
    }

    /** Customises each channel of the default factory (keepalive, interceptors, executor); none by default. */
    public Builder channelCustomizer(ChannelCustomizer value) {
      this.customizer = Objects.requireNonNull(value, "channelCustomizer");
      return this;
    }

    /**
     * Builds each server's channel instead of the default Netty factory (another transport, in-process for tests);
     * {@link #credentials} and {@link #channelCustomizer} then do not apply, and {@link #tls} may not be set.
     */
    public Builder channelFactory(ChannelFactory value) {
      this.channelFactory = Objects.requireNonNull(value, "channelFactory");
      return this;
    }

    /** Timers for retries and timeouts (tests pass a fake); by default the manager owns one daemon thread. */
    public Builder scheduler(ScheduledExecutorService value) {
      this.scheduler = Objects.requireNonNull(value, "scheduler");
      return this;
    }

    /** The nanosecond clock; {@code System::nanoTime} by default. */
    public Builder ticker(LongSupplier value) {
      this.ticker = Objects.requireNonNull(value, "ticker");
      return this;
    }

    /** The listener; {@link ConnectionListener#NONE} by default. */
    public Builder listener(ConnectionListener value) {
      this.listener = Objects.requireNonNull(value, "listener");
      return this;
    }

    /**
     * The options. Dependencies are added to the tracked roles when roles were given.
     *
     * @throws IllegalArgumentException ({@code tls: ...}) if TLS is set together with a channel factory, which would
     *     ignore it
     */
    public ConnectionOptions build() {
      if (channelFactory != null && (tls != null || !roleTls.isEmpty())) {
        throw new IllegalArgumentException("tls: applies to the default channel factory only; a channelFactory builds "
            + "its own channels (configure TLS there, or drop the channelFactory)");
      }
      if (!roles.isEmpty()) {
        roles.addAll(dependencies);
        roles.addAll(healthChecks.keySet());
      }
      return new ConnectionOptions(this);
    }

    private static String requireRole(String r, String field) {
      if (r == null || r.isBlank()) {
        throw new IllegalArgumentException(field + ": a role must be a non-empty name, was '" + r + "'");
      }
      return r;
    }
  }
}
