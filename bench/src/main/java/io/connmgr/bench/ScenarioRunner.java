package io.connmgr.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.bench.scenario.ChurnScenario;
import io.connmgr.bench.scenario.ControlPlaneScenario;
import io.connmgr.bench.scenario.CrashScenario;
import io.connmgr.bench.scenario.Env;
import io.connmgr.bench.scenario.EventScenario;
import io.connmgr.bench.scenario.FailFastLoadedScenario;
import io.connmgr.bench.scenario.FailFastScenario;
import io.connmgr.bench.scenario.FailFastStormScenario;
import io.connmgr.bench.scenario.FrozenServerScenario;
import io.connmgr.bench.scenario.MarkdownReport;
import io.connmgr.bench.scenario.LeaderFailoverScenario;
import io.connmgr.bench.scenario.MemoryScenario;
import io.connmgr.bench.scenario.OutlierScenario;
import io.connmgr.bench.scenario.RecoveryScenario;
import io.connmgr.bench.scenario.Results;
import io.connmgr.bench.scenario.RollingRestartScenario;
import io.connmgr.bench.scenario.Scenario;
import io.connmgr.bench.scenario.StartupScenario;
import io.connmgr.bench.scenario.SvgChart;
import io.connmgr.testservers.LocalEtcd;
import io.etcd.jetcd.Client;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The scenario runner: event latencies, start-up, the control plane, churn and memory of connmgr, each beside its
 * baselines measured in the same run, against one real etcd it starts itself (the {@code etcd} binary on the PATH)
 * and real Netty servers on loopback. Not JMH: each figure is a distribution of single events (at least 200 trials
 * per latency in full mode).
 *
 * <p>Writes {@code latest.json} (nested: {@code failFast.p50Ms}, {@code watch.p99Ms}, {@code startup10k.readyMs},
 * ...; plus the machine, JDK, versions and mode), {@code latest.md} (a table per scenario: connmgr, baseline, ratio,
 * goal, met or missed) and one SVG latency chart per scenario, into {@code bench/results/} — or, with {@code --quick},
 * into {@code bench/target/results-quick/}, so a quick run never overwrites the published results.
 *
 * <p>Run from the repository root, after {@code mvn -q -B -DskipTests package -pl bench -am}:
 * <pre>
 * java -cp bench/target/benchmarks.jar io.connmgr.bench.ScenarioRunner            # full: about 3 minutes
 * java -cp bench/target/benchmarks.jar io.connmgr.bench.ScenarioRunner --quick    # smoke test: under 2 minutes
 * </pre>
 * Options: {@code --out DIR}; {@code --only a,b} runs only the named scenarios ({@code fail-fast},
 * {@code fail-fast-loaded}, {@code events}, {@code recovery}, {@code startup}, {@code control-plane}, {@code churn},
 * {@code memory}, {@code crash}, {@code fail-fast-storm}, {@code rollingRestart}, {@code outlier}, {@code frozen-server},
 * {@code leader-failover}).
 */
public final class ScenarioRunner {

  private ScenarioRunner() {}

  /** Runs the scenarios; see the class comment for the arguments. */
  public static void main(String[] args) throws Exception {
    boolean quick = false;
    Path out = null;
    Set<String> only = null;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--quick" -> quick = true;
        case "--out" -> out = Path.of(args[++i]);
        case "--only" -> only = Set.of(args[++i].split(","));
        default -> {
          System.err.println("usage: ScenarioRunner [--quick] [--out DIR] [--only scenario,...]");
          System.exit(2);
        }
      }
    }
    if (out == null) {
      out = Path.of(quick ? "bench/target/results-quick" : "bench/results");
    }
    Path written = run(quick, out, only);
    System.out.println("wrote " + written.toAbsolutePath());
  }

  /** Runs the scenarios and writes the results into {@code out}; returns the path of {@code latest.json}. */
  public static Path run(boolean quick, Path out, Set<String> only) throws Exception {
    List<Scenario> all = List.of(new FailFastScenario(), new FailFastLoadedScenario(), new EventScenario(),
        new RecoveryScenario(), new StartupScenario(), new ControlPlaneScenario(), new ChurnScenario(),
        new MemoryScenario(), new CrashScenario(), new FailFastStormScenario(), new RollingRestartScenario(),
        new OutlierScenario(), new FrozenServerScenario(), new LeaderFailoverScenario());
    List<Scenario> scenarios = new ArrayList<>();
    for (Scenario s : all) {
      if (only == null || only.contains(s.name())) {
        scenarios.add(s);
      }
    }
    if (only != null) {
      Set<String> unknown = new java.util.TreeSet<>(only);
      all.forEach(s -> unknown.remove(s.name()));
      if (!unknown.isEmpty()) {
        throw new IllegalArgumentException("--only: unknown scenario(s) " + unknown + "; known: "
            + all.stream().map(Scenario::name).toList());
      }
    }
    long started = System.nanoTime();
    Results results = new Results();
    ObjectNode root = results.root();
    root.put("mode", quick ? "quick" : "full");
    root.put("timestamp", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    root.put("command", "java -cp bench/target/benchmarks.jar io.connmgr.bench.ScenarioRunner"
        + (quick ? " --quick" : ""));
    machine(results.node("machine"));
    ObjectNode versions = results.node("versions");
    try (LocalEtcd etcd = LocalEtcd.singleMember()) {
      etcd.start();
      try (Client writer = etcd.newClient()) {
        versions(versions, writer, etcd);
        Env env = new Env(quick, etcd, writer);
        for (Scenario s : scenarios) {
          long t = System.nanoTime();
          System.out.println("scenario " + s.name() + " ...");
          s.run(env, results);
          System.out.printf("scenario %s done in %.1f s%n", s.name(), (System.nanoTime() - t) / 1e9);
        }
      }
    }
    root.put("wallSeconds", Results.round((System.nanoTime() - started) / 1e9));
    root.set("goals", results.goals());
    Files.createDirectories(out);
    Path json = out.resolve("latest.json");
    Results.MAPPER.writeValue(json.toFile(), root);
    Files.writeString(out.resolve("latest.md"), MarkdownReport.render(results));
    for (Results.Chart c : results.charts()) {
      Files.writeString(out.resolve(c.file()), SvgChart.render(c));
    }
    summary(results);
    return json;
  }

  private static void summary(Results results) {
    System.out.println("---- summary (" + results.root().path("mode").asText() + " mode, "
        + results.root().path("wallSeconds").asText() + " s)");
    for (String key : List.of("failFast", "watch", "baselineRoundRobin", "baselineDeadline", "recovery")) {
      if (results.root().has(key)) {
        ObjectNode n = (ObjectNode) results.root().get(key);
        System.out.printf("%-20s p50 %10.3f ms  p99 %10.3f ms  (n=%d)%n", key, n.path("p50Ms").asDouble(),
            n.path("p99Ms").asDouble(), n.path("trials").asInt());
      }
    }
    if (results.root().has("startup10k")) {
      ObjectNode n = (ObjectNode) results.root().get("startup10k");
      System.out.printf("%-20s start() %.3f ms, ready %.1f ms, raw etcd get %.1f ms%n", "startup10k",
          n.path("startReturnMs").asDouble(), n.path("readyMs").asDouble(), n.path("rawGetMs").asDouble());
    }
    results.goals().forEach(g -> System.out.printf("goal %-40s %-10s %10s %s  %s%n", g.path("name").asText(),
        g.path("goal").asText(), g.path("value").asText(), g.path("unit").asText(),
        g.path("met").asBoolean() ? "met" : "MISSED"));
  }

  private static void machine(ObjectNode m) {
    Runtime rt = Runtime.getRuntime();
    m.put("cores", rt.availableProcessors());
    m.put("cpu", cpuModel());
    m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
        + System.getProperty("os.arch"));
    m.put("jdk", System.getProperty("java.vm.vendor") + " " + System.getProperty("java.vm.name") + " "
        + System.getProperty("java.runtime.version"));
    m.put("jdkVendor", System.getProperty("java.vm.vendor"));
    m.put("jdkVersion", System.getProperty("java.runtime.version"));
    m.put("maxHeapMiB", rt.maxMemory() / (1024 * 1024));
    m.put("jvmArgs", String.join(" ", ManagementFactory.getRuntimeMXBean().getInputArguments()));
  }

  private static String cpuModel() {
    try {
      return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
          .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("unknown");
    } catch (IOException e) {
      return "unknown";
    }
  }

  private static void versions(ObjectNode v, Client client, LocalEtcd etcd) throws IOException {
    Properties p = new Properties();
    try (InputStream in = ScenarioRunner.class.getResourceAsStream("versions.properties")) {
      if (in != null) {
        p.load(in);
      }
    }
    for (String k : List.of("connmgr", "grpc", "netty", "jetcd", "protobuf")) {
      v.put(k, p.getProperty(k, "unknown"));
    }
    String etcdVersion;
    try {
      etcdVersion = client.getMaintenanceClient().statusMember(etcd.clientEndpoint(0)).get(10, TimeUnit.SECONDS)
          .getVersion();
    } catch (Exception e) {
      etcdVersion = "unknown";
    }
    v.put("etcd", etcdVersion);
  }

}
