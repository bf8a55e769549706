package io.connmgr.connection;

import io.connmgr.discovery.Discovery;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.LongSupplier;

/**
 * Everything a {@link ConnectionManager} is built from. Immutable; made by {@link #builder(Discovery)}, which checks
 * each field as it is set and names it in the error.
 *
 * @param discovery      where sessions come from (etcd, a static file, an in-memory registry)
 * @param roles          the roles this client uses; empty means every role
 * @param dependencies   roles connected eagerly, in parallel, as soon as their sessions are known, and required for
 *                       {@link ManagerState#HEALTHY}; a subset of {@code roles} when roles is not empty
 * @param retry          the connect retry policy
 * @param maxChannels    the pool's size bound; least recently used channels beyond it close gracefully
 * @param idleTimeout    channels unused this long close gracefully (and reopen on next use)
 * @param picker         how {@link ConnectionManager#pick(String)} chooses
 * @param customizer     customises each channel (TLS, keepalive, interceptors, executor)
 * @param scheduler      timers for retries and attempt timeouts; {@code null}: the manager's own thread
 * @param ticker         nanosecond clock for durations and idle expiry; {@code System::nanoTime} by default
 * @param listener       observes connects, removals, fail-fast cancellations and state changes
 */
public record ConnectionOptions(Discovery discovery, Set<String> roles, Set<String> dependencies, RetryPolicy retry,
    int maxChannels, Duration idleTimeout, Picker picker, ChannelCustomizer customizer,
    ScheduledExecutorService scheduler, LongSupplier ticker, ConnectionListener listener) {

  /** Copies the sets. */
  public ConnectionOptions {
    roles = Set.copyOf(roles);
    dependencies = Set.copyOf(dependencies);
  }

  /** A builder over {@code discovery}. */
  public static Builder builder(Discovery discovery) {
    return new Builder(discovery);
  }

  /** Builds {@link ConnectionOptions}; not thread-safe. */
  public static final class Builder {
    private final Discovery discovery;
    private final Set<String> roles = new LinkedHashSet<>();
    private final Set<String> dependencies = new LinkedHashSet<>();
    private RetryPolicy retry = RetryPolicy.DEFAULT;
    private int maxChannels = 10_000;
    private Duration idleTimeout = Duration.ofMinutes(30);
    private Picker picker = Picker.ROUND_ROBIN;
    private ChannelCustomizer customizer = ChannelCustomizer.NONE;
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

    /** Customises each channel; none by default (plaintext). */
    public Builder channelCustomizer(ChannelCustomizer value) {
      this.customizer = Objects.requireNonNull(value, "channelCustomizer");
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
     * The options.
     *
     * Dependencies are added to the tracked roles when roles were given.
     */
    public ConnectionOptions build() {
      if (!roles.isEmpty()) {
        roles.addAll(dependencies);
      }
      return new ConnectionOptions(discovery, roles, dependencies, retry, maxChannels, idleTimeout, picker,
          customizer, scheduler, ticker, listener);
    }

    private static String requireRole(String r, String field) {
      if (r == null || r.isBlank()) {
        throw new IllegalArgumentException(field + ": a role must be a non-empty name, was '" + r + "'");
      }
      return r;
    }
  }
}
