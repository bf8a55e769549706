package io.connmgr.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The scenario runner's quick mode, end to end, against a real etcd it starts itself: it checks that the harness runs
 * and writes every required figure, the report and the charts — not the figures' values.
 *
 * <p>Run: {@code mvn -q -B verify -pl bench -am -Dtest=ScenarioRunnerSmokeTest
 * -Dsurefire.failIfNoSpecifiedTests=false}
 */
class ScenarioRunnerSmokeTest {

  private static final List<String> REQUIRED = List.of("failFast.p50Ms", "failFast.p99Ms", "watch.p50Ms",
      "watch.p99Ms", "baselineDeadline.p50Ms", "baselineRoundRobin.p50Ms", "recovery.p50Ms", "recovery.p99Ms",
      "startup10k.startReturnMs", "startup10k.readyMs", "machine.cores", "churn.eventsPerSecond",
      "memory.perIdleSessionBytes", "memory.perLiveChannelBytes", "memory.perRawManagedChannelBytes",
      "crash.kill9.connmgr.p50Ms", "crash.sigstop.connmgr.p50Ms", "crash.sigstop.grpcDefaults.p50Ms",
      "events.connmgr.p50Ms", "memory.idleSessionRatio", "failFastLoaded.p99GapMs", "failFastStorm.afterRelistMs",
      "controlPlane.eventsPerSec.n1k", "controlPlane.eventsPerSec.n10k", "controlPlane.burstDeleteP99Ms.n1k",
      "controlPlane.baselineEventsPerSec.n1k", "controlPlane.roles100.eventsPerSec.n10k",
      "outlier.errorRateAfter", "outlier.baselineErrorRateAfter", "frozenServer.detectMs",
      "frozenServer.leaseBoundMs", "leaderFailover.gracefulP99Ms", "leaderFailover.crashP99Ms");

  @Test
  // every scenario once, several with child JVMs: about 100 s alone on 2 cores; the bound is for a hung harness
  @Timeout(value = 240, unit = TimeUnit.SECONDS)
  void quickModeWritesEveryFigureTheReportAndTheCharts() throws Exception {
    Path out = Path.of("target/results-smoke-test");
    Path json = ScenarioRunner.run(true, out, null);

    JsonNode root = new ObjectMapper().readTree(json.toFile());
    for (String key : REQUIRED) {
      JsonNode n = root.at("/" + key.replace('.', '/'));
      assertThat(n.isNumber()).as("%s is a number in %s", key, json).isTrue();
      assertThat(Double.isNaN(n.asDouble())).as("%s is not NaN", key).isFalse();
    }
    assertThat(root.path("mode").asText()).isEqualTo("quick");
    assertThat(root.at("/machine/jdk").asText()).isNotBlank();
    for (String v : List.of("grpc", "netty", "jetcd", "etcd")) {
      assertThat(root.at("/versions/" + v).asText()).as("version of %s", v).isNotBlank().isNotEqualTo("unknown");
    }
    assertThat(root.path("goals").size()).isGreaterThanOrEqualTo(6);
    String report = Files.readString(out.resolve("latest.md"));
    assertThat(report).contains("## Fail-fast", "## Recovery", "## Start-up", "## Churn", "## Crash",
        "## Control plane", "## Fail-fast in a storm", "## Fail-fast under CPU load", "## Outlier",
        "## Frozen server", "## Leader failover", "![");
    for (String svg : List.of("failfast.svg", "recovery.svg", "crash.svg", "events.svg", "churn.svg")) {
      assertThat(Files.readString(out.resolve(svg))).startsWith("<svg").contains("<polyline").endsWith("</svg>\n");
    }
  }
}
