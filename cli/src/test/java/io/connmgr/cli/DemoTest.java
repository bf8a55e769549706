package io.connmgr.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** {@code connmgr demo} on the embedded registry and on a spawned etcd: every step passes, the figures make sense. */
class DemoTest {

  private static JsonNode runDemo(String... extra) throws Exception {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    String[] args = new String[extra.length + 2];
    args[0] = "demo";
    args[1] = "--json";
    System.arraycopy(extra, 0, args, 2, extra.length);
    int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    String[] lines = out.toString().strip().split("\n");
    assertThat(code).as("exit code; output:%n%s%n%s", out, err).isZero();
    assertThat(out.toString()).contains("[1/7]", "[7/7] summary", "deregistered");
    return new ObjectMapper().readTree(lines[lines.length - 1]);
  }

  private static void assertFigures(JsonNode r) {
    assertThat(r.get("ok").asBoolean()).isTrue();
    assertThat(r.get("failFastMs").asDouble()).isPositive().isLessThan(r.get("baselineMs").asDouble());
    // "ok" holds only if the plain call ended DEADLINE_EXCEEDED: it waited its deadline (how long after the
    // deregistration that was depends on the machine's load, so it is not asserted here)
    assertThat(r.get("restoreMs").asDouble()).isPositive();
    assertThat(r.get("failFastStatus").asText()).startsWith("UNAVAILABLE: querynode-2 (").endsWith(") deregistered");
    JsonNode roll = r.get("rollingRestart");
    assertThat(roll.get("calls").asLong()).isPositive();
    assertThat(roll.get("failed").asLong()).isZero(); // connmgr re-issued what the leaving servers had not answered
    assertThat(roll.get("reissued").isIntegralNumber()).isTrue();
    // the plain round_robin channel ran beside it; whether it lost calls depends on timing, so only its presence
    assertThat(roll.get("baselineCalls").asLong()).isPositive();
    assertThat(roll.get("baselineFailed").isIntegralNumber()).isTrue();
    assertThat(roll.get("baselineFailed").asLong()).isBetween(0L, roll.get("baselineCalls").asLong());
  }

  @Test
  void demoOnTheEmbeddedRegistryPasses() throws Exception {
    JsonNode r = runDemo();
    assertThat(r.get("backend").asText()).isEqualTo("embedded in-memory registry");
    assertFigures(r);
  }

  @Test
  void demoOnASpawnedEtcdPasses() throws Exception {
    JsonNode r = runDemo("--spawn-etcd");
    assertThat(r.get("backend").asText()).startsWith("etcd at http://127.0.0.1:");
    assertFigures(r);
  }

  @Test
  void badOptionsAreOneLineAndExitTwo() {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), "demo", "--servers", "1");
    assertThat(code).isEqualTo(2);
    assertThat(err.toString().strip()).startsWith("connmgr: --servers:").doesNotContain("\n");
  }
}
