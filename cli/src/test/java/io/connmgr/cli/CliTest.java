package io.connmgr.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testservers.ChildJvm;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code connmgr sessions} and {@code watch} against a real etcd holding Milvus-shaped keys. */
class CliTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static Client client;

  @BeforeAll
  static void seed() throws Exception {
    client = etcd.newClient();
    put("by-dev/meta/session/id", "9");
    put("by-dev/meta/session/querynode-5", "{\"ServerID\":5,\"ServerName\":\"QueryNode\",\"Address\":\"10.97.6.5:21123\"}");
    put("by-dev/meta/session/querynode-6", "{\"ServerID\":6,\"ServerName\":\"querynode\",\"Address\":\"10.97.6.6:21123\","
        + "\"Version\":\"2.4.5\",\"LeaseID\":7587878263477270546,\"IndexEngineVersion\":{\"CurrentIndexVersion\":4}}");
    put("by-dev/meta/session/rootcoord", "{\"ServerID\":1,\"ServerName\":\"rootcoord\",\"Address\":\"10.97.6.1:53100\","
        + "\"Exclusive\":true,\"Version\":\"2.4.5\"}");
    put("by-dev/meta/session/datanode-9", "garbage{");
  }

  @AfterAll
  static void close() {
    client.close();
  }

  private static void put(String key, String value) throws Exception {
    client.getKVClient().put(ByteSequence.from(key, StandardCharsets.UTF_8),
        ByteSequence.from(value, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS);
  }

  /** Built by the agent module before this one. */
  private static final String AGENT_JAR = "../agent/target/connmgr-agent.jar";

  private record Result(int code, String out, String err) {}

  private static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    return new Result(code, out.toString(), err.toString());
  }

  @Test
  void sessionsJsonListsValidSessionsAndSkipsTheRest() throws Exception {
    Result r = run("sessions", "--etcd", etcd.clientEndpoint(0), "--json");
    assertThat(r.code()).isZero();
    JsonNode arr = JSON.readTree(r.out());
    assertThat(arr.isArray()).isTrue();
    assertThat(arr).hasSize(3);
    JsonNode first = arr.get(0);
    assertThat(first.get("key").asText()).isEqualTo("by-dev/meta/session/querynode-5");
    assertThat(first.get("role").asText()).isEqualTo("QueryNode");
    assertThat(first.get("serverId").asLong()).isEqualTo(5);
    assertThat(first.get("address").asText()).isEqualTo("10.97.6.5:21123");
    assertThat(first.get("exclusive").asBoolean()).isFalse();
    assertThat(first.get("stopping").asBoolean()).isFalse();
    assertThat(arr.get(2).get("exclusive").asBoolean()).isTrue();
  }

  @Test
  void sessionsTableFiltersByRole() {
    Result r = run("sessions", "--etcd", etcd.clientEndpoint(0), "--role", "querynode");
    assertThat(r.code()).isZero();
    assertThat(r.out()).contains("querynode-6", "10.97.6.6:21123", "2.4.5").doesNotContain("QueryNode ");
    assertThat(r.out()).contains("1 session(s) at revision");
  }

  @Test
  void attachLoadsTheAgentIntoARunningJvmAndSaysSo() throws Exception {
    try (ChildJvm jvm = ChildJvm.start(io.connmgr.testservers.EchoServerMain.class, "1", "querynode", "0")) {
      jvm.awaitLine("LISTENING", java.time.Duration.ofSeconds(60));
      String pid = Long.toString(jvm.process().pid());
      Result bad = run("attach", pid, "--agent-jar", AGENT_JAR, "--target", "nonsense");
      assertThat(bad.code()).isEqualTo(2);
      assertThat(bad.err().strip()).isEqualTo("connmgr: targets (agent option targets): 'nonsense' is not"
          + " host:port=role");

      Result r = run("attach", pid, "--agent-jar", AGENT_JAR, "--etcd", etcd.clientEndpoint(0), "--target",
          "lb:19530=querynode");
      assertThat(r.code()).as(r.err()).isZero();
      assertThat(r.out()).startsWith("connmgr agent loaded into JVM " + pid + ": channels it builds from now on to"
          + " session:///<role> targets and to lb:19530=querynode are managed by connmgr");
      assertThat(jvm.awaitLine("[connmgr-agent] INFO AgentMain - started (attached) in ", java.time.Duration.ofSeconds(30)))
          .contains("targets={lb:19530=querynode}");
    }
  }

  @Test
  void attachNeedsAProcessId() {
    Result r = run("attach", "my-app", "--agent-jar", AGENT_JAR);
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err().strip()).isEqualTo("connmgr: PID must be a process id, was 'my-app'");
  }

  @Test
  void badUrlIsOneLineAndExitTwo() {
    Result r = run("sessions", "--etcd", "localhost:2379");
    assertThat(r.code()).isEqualTo(2);
    assertThat(r.err().strip()).startsWith("connmgr: --etcd: 'localhost:2379' is not an etcd URL").doesNotContain("\n").doesNotContain("Exception");
  }

  @Test
  void unreachableEtcdIsOneLineAndExitOne() {
    Result r = run("sessions", "--etcd", "http://127.0.0.1:1", "--timeout", "3");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.err().strip()).startsWith("connmgr: cannot reach etcd at http://127.0.0.1:1").doesNotContain("\n");
    Result w = run("watch", "--etcd", "http://127.0.0.1:1", "--timeout", "2");
    assertThat(w.code()).isEqualTo(1);
    assertThat(w.err().strip()).startsWith("connmgr: cannot reach etcd").doesNotContain("\n");
  }

  @Test
  void watchPrintsExistingThenChangesRidesOutAnOutageAndStopsOnSigterm() throws Exception {
    CliProcess cli = CliProcess.start(List.of("watch", "--etcd", etcd.clientEndpoint(0), "--json"), Map.of());
    Process p = cli.process;
    List<JsonNode> lines = cli.lines;
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> lines.size() == 3);
      assertThat(lines).allSatisfy(n -> assertThat(n.get("type").asText()).isEqualTo("ADDED"));
      put("by-dev/meta/session/querynode-7", "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\"}");
      await().atMost(Duration.ofSeconds(10)).until(() -> lines.size() == 4);
      etcd.kill(0);
      etcd.start(0);
      put("by-dev/meta/session/querynode-7", "{\"ServerID\":7,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.7:1\","
          + "\"Stopping\":true}");
      client.getKVClient().delete(ByteSequence.from("by-dev/meta/session/querynode-7", StandardCharsets.UTF_8))
          .get(10, TimeUnit.SECONDS);
      await().atMost(Duration.ofSeconds(30)).until(() -> lines.size() == 6);
      assertThat(lines.subList(3, 6)).extracting(n -> n.get("type").asText())
          .containsExactly("ADDED", "STOPPING", "REMOVED");
      JsonNode removed = lines.get(5);
      assertThat(removed.get("key").asText()).isEqualTo("by-dev/meta/session/querynode-7");
      assertThat(removed.get("role").asText()).isEqualTo("querynode");
      assertThat(removed.get("serverId").asLong()).isEqualTo(7);
      assertThat(removed.get("revision").asLong()).isPositive();
      assertThat(p.isAlive()).isTrue();
      p.destroy(); // SIGTERM, as Ctrl-C's SIGINT: the shutdown hook closes cleanly
      assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
      assertThat(cli.stderr()).doesNotContain("Exception");
    } finally {
      cli.close();
    }
  }
}
