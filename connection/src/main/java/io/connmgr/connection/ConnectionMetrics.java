package io.connmgr.connection;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.function.ToIntFunction;

/**
 * Micrometer meters of a {@link ConnectionManager} (Micrometer is an optional dependency: this class is the only one
 * that needs it). Per role, gauges {@code connmgr.servers} tagged
 * {@code state=registered|ready|offline|stopping|healthy|degraded|ejected} (document 004's RegisteredNodes,
 * HealthyNodes, DegradedNodes) and the counters {@code connmgr.servers.ejections} and
 * {@code connmgr.sessions.disallowed} (sessions ignored because their address is not on the allow-list);
 * counters {@code connmgr.connect.attempts}, {@code connmgr.connect.failures}, {@code connmgr.connect.retries},
 * {@code connmgr.calls.failed.fast}, {@code connmgr.calls.reissued}, {@code connmgr.calls.reissue.budget.exhausted}; gauge {@code connmgr.channels.open}. Every meter reads
 * {@link ConnectionManager#stats()}; nothing is counted twice.
 *
 * <pre>{@code new ConnectionMetrics(cm, List.of("querynode", "rootcoord")).bindTo(registry);}</pre>
 *
 * Thread-safe; binding does not block.
 */
public final class ConnectionMetrics implements MeterBinder {

  private final ConnectionManager manager;
  private final List<String> roles;

  /** Meters for {@code roles} (per-role gauges are registered for these roles only). */
  public ConnectionMetrics(ConnectionManager manager, Collection<String> roles) {
    this.manager = Objects.requireNonNull(manager, "manager");
    this.roles = List.copyOf(roles);
  }

  @Override
  public void bindTo(MeterRegistry registry) {
    for (String role : roles) {
      gauge(registry, role, "registered", ConnectionStats.RoleStats::registered);
      gauge(registry, role, "ready", ConnectionStats.RoleStats::ready);
      gauge(registry, role, "offline", ConnectionStats.RoleStats::offline);
      gauge(registry, role, "stopping", ConnectionStats.RoleStats::stopping);
      gauge(registry, role, "healthy", ConnectionStats.RoleStats::healthy);
      gauge(registry, role, "degraded", ConnectionStats.RoleStats::degraded);
      gauge(registry, role, "ejected", ConnectionStats.RoleStats::ejected);
      FunctionCounter.builder("connmgr.servers.ejections", manager, m -> {
        ConnectionStats.RoleStats r = m.stats().roles().get(role);
        return r == null ? 0 : r.ejections();
      }).tags("role", role).description("outlier ejections of a role's servers").register(registry);
      FunctionCounter.builder("connmgr.sessions.disallowed", manager, m -> {
        ConnectionStats.RoleStats r = m.stats().roles().get(role);
        return r == null ? 0 : r.disallowedSessions();
      }).tags("role", role).description("sessions ignored because their address is not allowed").register(registry);
    }
    Gauge.builder("connmgr.channels.open", manager, m -> m.stats().openChannels())
        .description("channels open in the pool").register(registry);
    FunctionCounter.builder("connmgr.connect.attempts", manager, m -> m.stats().connectAttempts())
        .description("connect attempts started").register(registry);
    FunctionCounter.builder("connmgr.connect.failures", manager, m -> m.stats().connectFailures())
        .description("connect attempts that failed").register(registry);
    FunctionCounter.builder("connmgr.connect.retries", manager, m -> m.stats().retries())
        .description("connect attempts that were retries").register(registry);
    FunctionCounter.builder("connmgr.calls.failed.fast", manager, m -> m.stats().failFastCancellations())
        .description("calls in flight failed at once because their server's session went").register(registry);
    FunctionCounter.builder("connmgr.calls.reissued", manager, m -> m.stats().reissued())
        .description("calls of role channels started again on another server").register(registry);
    FunctionCounter.builder("connmgr.calls.reissue.budget.exhausted", manager, m -> m.stats().reissueBudgetExhausted())
        .description("re-issues refused because the role's re-issue budget was spent").register(registry);
  }

  private void gauge(MeterRegistry registry, String role, String state, ToIntFunction<ConnectionStats.RoleStats> f) {
    Gauge.builder("connmgr.servers", manager, m -> {
      ConnectionStats.RoleStats r = m.stats().roles().get(role);
      return r == null ? 0 : f.applyAsInt(r);
    }).tags("role", role, "state", state).description("servers of a role by state").register(registry);
  }
}
