package io.connmgr.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.cli.HealthProbe.Health;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Leader;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionSnapshot;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code connmgr cluster}: an operator's view of the cluster — every role, its servers with their session state and
 * health ({@code grpc.health.v1.Health/Check}, all servers at once, each bounded by a short deadline), and the leader
 * of each exclusive role.
 */
@Command(name = "cluster", mixinStandardHelpOptions = true,
    description = "Show every role, its servers with session state and health (grpc.health.v1 Check, all in"
        + " parallel, each with a short deadline) and the leader of each exclusive role. Invalid values are skipped"
        + " with a warning on stderr.")
final class ClusterCommand implements Callable<Integer> {

  /** The longest {@code --health-timeout} accepted: the whole command must stay well under 15 s. */
  static final Duration MAX_HEALTH_TIMEOUT = Duration.ofSeconds(10);

  @Mixin
  EtcdOptions etcd = new EtcdOptions();

  @Option(names = "--role", paramLabel = "ROLE", description = "only this role (case-sensitive)")
  String role;

  @Option(names = "--json", description = "one JSON object on stdout")
  boolean json;

  @Option(names = "--health-service", paramLabel = "NAME", defaultValue = "",
      description = "the service name asked in each health check (default: \"\", the server as a whole)")
  String healthService;

  @Option(names = "--health-timeout", paramLabel = "DURATION", defaultValue = "2s",
      converter = DurationConverter.class,
      description = "deadline of each health check, like 500ms, 2s or 1500 (milliseconds); at most 10s"
          + " (default: ${DEFAULT-VALUE})")
  Duration healthTimeout;

  @Spec
  CommandSpec spec;

  /** One role as printed. */
  private static final class RoleView {
    final String role;
    final List<Session> servers = new ArrayList<>();
    boolean exclusive;
    boolean activeKeyPresent;
    final Map<Session, CompletableFuture<Health>> health = new LinkedHashMap<>();
    CompletableFuture<Leader> leader;
    Leader leaderValue;
    String leaderError;

    RoleView(String role) {
      this.role = role;
    }

    boolean readsLeader() {
      return exclusive || activeKeyPresent;
    }
  }

  @Override
  public Integer call() throws Exception {
    try (EtcdDiscovery d = etcd.build(); HealthProbe probe = new HealthProbe(healthTimeout, healthService)) {
      SessionSnapshot snap;
      try {
        snap = d.snapshot(role).get(etcd.timeoutSeconds, TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException e) {
        throw etcd.failure(e);
      }
      Map<String, RoleView> roles = group(snap, d.layout());

      // everything at once: one leader read per exclusive role, one health check per server
      List<CompletableFuture<?>> pending = new ArrayList<>();
      long leaderTimeoutMillis = TimeUnit.SECONDS.toMillis(Math.max(1, etcd.timeoutSeconds));
      for (RoleView r : roles.values()) {
        if (r.readsLeader()) {
          try {
            r.leader = d.leader(r.role).orTimeout(leaderTimeoutMillis, TimeUnit.MILLISECONDS);
          } catch (RuntimeException e) {
            r.leader = CompletableFuture.failedFuture(e);
          }
          pending.add(r.leader);
        }
        for (Session s : r.servers) {
          CompletableFuture<Health> h;
          try {
            h = probe.check(s.host(), s.port());
          } catch (RuntimeException e) {
            h = CompletableFuture.completedFuture(Health.UNREACHABLE);
          }
          r.health.put(s, h);
          pending.add(h);
        }
      }
      try {
        CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).handle((v, e) -> null)
            .get(leaderTimeoutMillis + healthTimeout.toMillis() + 2_000, TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        // each future is bounded on its own; whatever is still open is reported as unreachable / timed out below
      }
      for (RoleView r : roles.values()) {
        if (r.leader != null) {
          resolveLeader(r);
        }
      }

      PrintWriter out = spec.commandLine().getOut();
      if (json) {
        out.println(Json.MAPPER.writeValueAsString(toJson(roles)));
      } else {
        printTable(out, roles, snap.revision(), d.stats().invalidValues());
      }
      out.flush();
      return 0;
    }
  }

  /** Groups the snapshot by role; the active key {@code <root><role>} is not a server of its own. */
  private static Map<String, RoleView> group(SessionSnapshot snap, KeyLayout layout) {
    Map<String, RoleView> roles = new TreeMap<>();
    for (Session s : snap.sessions()) {
      RoleView r = roles.computeIfAbsent(s.role(), RoleView::new);
      if (s.key().equals(layout.activeKey(s.role()))) {
        r.activeKeyPresent = true;
        continue;
      }
      r.servers.add(s);
      r.exclusive |= s.exclusive();
    }
    for (RoleView r : roles.values()) {
      r.servers.sort(Comparator.comparingLong(Session::serverId).thenComparing(Session::key));
    }
    return roles;
  }

  private static void resolveLeader(RoleView r) {
    CompletableFuture<Leader> f = r.leader;
    if (!f.isDone()) {
      r.leaderError = "UNAVAILABLE: the leader of role '" + r.role + "' could not be read in time";
      return;
    }
    try {
      r.leaderValue = f.getNow(null);
    } catch (RuntimeException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      r.leaderError = cause instanceof TimeoutException
          ? "UNAVAILABLE: the leader of role '" + r.role + "' could not be read in time"
          : Errors.oneLine(cause);
    }
  }

  private static Health health(RoleView r, Session s) {
    return r.health.get(s).getNow(Health.UNREACHABLE);
  }

  private ObjectNode toJson(Map<String, RoleView> roles) {
    ObjectNode root = Json.MAPPER.createObjectNode();
    ArrayNode arr = root.putArray("roles");
    for (RoleView r : roles.values()) {
      ObjectNode n = arr.addObject();
      n.put("role", r.role);
      if (r.leaderValue != null) {
        ObjectNode l = n.putObject("leader");
        l.put("serverId", r.leaderValue.serverId());
        l.put("address", r.leaderValue.address());
      } else {
        n.putNull("leader");
      }
      if (r.leaderError != null) {
        n.put("leaderError", r.leaderError);
      } else {
        n.putNull("leaderError");
      }
      ArrayNode servers = n.putArray("servers");
      for (Session s : r.servers) {
        ObjectNode sn = servers.addObject();
        sn.put("serverId", s.serverId());
        sn.put("address", s.address());
        sn.put("stopping", s.stopping());
        sn.put("health", health(r, s).name());
      }
    }
    return root;
  }

  private static void printTable(PrintWriter out, Map<String, RoleView> roles, long revision, long invalid) {
    Table t = new Table("ROLE", "ID", "ADDRESS", "STATE", "HEALTH", "LEADER");
    int servers = 0;
    int unreachable = 0;
    for (RoleView r : roles.values()) {
      for (Session s : r.servers) {
        Health h = health(r, s);
        boolean leads = r.leaderValue != null && r.leaderValue.serverId() == s.serverId();
        t.row(r.role, Long.toString(s.serverId()), s.address(), s.stopping() ? "stopping" : "serving", h.name(),
            leads ? "*" : "");
        servers++;
        if (h == Health.UNREACHABLE) {
          unreachable++;
        }
      }
    }
    t.print(out);
    out.println();
    for (RoleView r : roles.values()) {
      if (r.leaderValue != null) {
        out.println(r.role + ": leader " + r.leaderValue.serverId() + " (" + r.leaderValue.address() + ")");
      } else if (r.leaderError != null) {
        out.println(r.role + ": no leader: " + r.leaderError);
      } else {
        out.println(r.role + ": not exclusive");
      }
    }
    out.println(servers + " server(s) in " + roles.size() + " role(s) at revision " + revision
        + (unreachable > 0 ? ", " + unreachable + " unreachable" : "")
        + (invalid > 0 ? ", " + invalid + " invalid value(s) skipped" : ""));
  }

  /** {@code 250ms}, {@code 2s}, {@code 1m}, or a bare number of milliseconds; between 1 ms and 10 s. */
  static final class DurationConverter implements ITypeConverter<Duration> {
    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m)?");

    @Override
    public Duration convert(String value) {
      Matcher m = DURATION.matcher(value.strip());
      if (!m.matches()) {
        throw new TypeConversionException("'" + value + "' is not a duration like 500ms, 2s or 1500 (milliseconds)");
      }
      long n = Long.parseLong(m.group(1));
      String unit = m.group(2) == null ? "ms" : m.group(2);
      Duration d = switch (unit) {
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        default -> Duration.ofMillis(n);
      };
      if (d.isZero() || d.compareTo(MAX_HEALTH_TIMEOUT) > 0) {
        throw new TypeConversionException("'" + value + "' must be between 1ms and "
            + MAX_HEALTH_TIMEOUT.toSeconds() + "s");
      }
      return d;
    }
  }
}
