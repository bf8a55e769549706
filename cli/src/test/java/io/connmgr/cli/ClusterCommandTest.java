package io.connmgr.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testservers.EchoServer;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.grpc.Server;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.NettyServerBuilder;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code connmgr cluster} against a real etcd holding Milvus-shaped keys and real gRPC servers: session state, the
 * leader of each exclusive role (or why there is none) and each server's health.
 */
class ClusterCommandTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember();

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ROOT = "by-dev/meta/session/";

  private static Client client;
  /** Every echo server started here, closed after all tests. */
  private static final List<EchoServer> echo = new ArrayList<>();
  private static EchoServer rootcoord;
  private static EchoServer querynode2;
  private static EchoServer querynode3;
  private static EchoServer querynode5;
  private static EchoServer indexcoord9;
  private static EchoServer querycoord11;
  /** A gRPC server without any health service: its Check answers UNIMPLEMENTED. */
  private static Server noHealth;
  /** A port nothing listens on. */
  private static int closedPort;

  @BeforeAll
  static void seed() throws Exception {
    client = etcd.newClient();
    rootcoord = start(1, "rootcoord");
    querynode2 = start(2, "querynode");
    querynode3 = start(3, "querynode");
    querynode5 = start(5, "querynode");
    querynode5.health().setStatus("", ServingStatus.NOT_SERVING);
    indexcoord9 = start(9, "indexcoord");
    querycoord11 = start(11, "querycoord");
    noHealth = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).build().start();
    closedPort = closedPort();

    put(ROOT + "id", "10");
    // rootcoord: exclusive, its active key holds its session
    String rc = session(1, "rootcoord", rootcoord.address(), ",\"Exclusive\":true");
    put(ROOT + "rootcoord", rc);
    put(ROOT + "rootcoord-1", rc);
    // querynode: not exclusive; one stopping, one whose address is a closed port, one NOT_SERVING
    put(ROOT + "querynode-2", session(2, "querynode", querynode2.address(), ""));
    put(ROOT + "querynode-3", session(3, "querynode", querynode3.address(), ",\"Stopping\":true"));
    put(ROOT + "querynode-4", session(4, "querynode", "127.0.0.1:" + closedPort, ""));
    put(ROOT + "querynode-5", session(5, "querynode", querynode5.address(), ""));
    // a bad value that is not an active key: skipped with a warning
    put(ROOT + "querynode-7", "garbage{");
    // datacoord: exclusive, but its active key holds a malformed value
    put(ROOT + "datacoord", "{\"ServerID\":6,\"ServerName\":");
    put(ROOT + "datacoord-6", session(6, "datacoord", "127.0.0.1:" + noHealth.getPort(), ",\"Exclusive\":true"));
    // indexcoord: its active key names indexcoord-8, whose own key is gone; indexcoord-9 is a standby
    put(ROOT + "indexcoord", session(8, "indexcoord", "127.0.0.1:" + closedPort, ",\"Exclusive\":true"));
    put(ROOT + "indexcoord-9", session(9, "indexcoord", indexcoord9.address(), ",\"Exclusive\":true"));
    // querycoord: an exclusive session but no active key at all
    put(ROOT + "querycoord-11", session(11, "querycoord", querycoord11.address(), ",\"Exclusive\":true"));
  }

  @AfterAll
  static void close() throws Exception {
    client.close();
    echo.forEach(EchoServer::close);
    noHealth.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  private static EchoServer start(long id, String name) {
    EchoServer s = EchoServer.start(id, name);
    echo.add(s);
    return s;
  }

  private static String session(long id, String role, String address, String extra) {
    return "{\"ServerID\":" + id + ",\"ServerName\":\"" + role + "\",\"Address\":\"" + address
        + "\",\"Version\":\"2.4.5\"" + extra + "}";
  }

  private static int closedPort() throws Exception {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static void put(String key, String value) throws Exception {
    client.getKVClient().put(ByteSequence.from(key, StandardCharsets.UTF_8),
        ByteSequence.from(value, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS);
  }

  private record Result(int code, String out, String err) {}

  private static Result run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    return new Result(code, out.toString(), err.toString());
  }

  private static JsonNode role(JsonNode cluster, String name) {
    for (JsonNode r : cluster.get("roles")) {
      if (r.get("role").asText().equals(name)) {
        return r;
      }
    }
    throw new AssertionError("no role " + name + " in " + cluster);
  }

  private static JsonNode server(JsonNode role, long id) {
    for (JsonNode s : role.get("servers")) {
      if (s.get("serverId").asLong() == id) {
        return s;
      }
    }
    throw new AssertionError("no server " + id + " in " + role);
  }

  @Test
  void jsonShowsEveryRoleItsServersTheirHealthAndEachExclusiveRolesLeader() throws Exception {
    Result r = run("cluster", "--etcd", etcd.clientEndpoint(0), "--json");
    assertThat(r.code()).as(r.err()).isZero();
    JsonNode cluster = JSON.readTree(r.out());
    assertThat(cluster.get("roles")).extracting(n -> n.get("role").asText())
        .containsExactly("datacoord", "indexcoord", "querycoord", "querynode", "rootcoord");

    // an exclusive role: its leader is the session its active key holds; the active key is not a server
    JsonNode rc = role(cluster, "rootcoord");
    assertThat(rc.get("leader").get("serverId").asLong()).isEqualTo(1);
    assertThat(rc.get("leader").get("address").asText()).isEqualTo(rootcoord.address());
    assertThat(rc.get("leaderError").isNull()).isTrue();
    assertThat(rc.get("servers")).hasSize(1);
    JsonNode rc1 = server(rc, 1);
    assertThat(rc1.get("address").asText()).isEqualTo(rootcoord.address());
    assertThat(rc1.get("stopping").asBoolean()).isFalse();
    assertThat(rc1.get("health").asText()).isEqualTo("SERVING");

    // a non-exclusive role: no leader, no error; each server's state and health
    JsonNode qn = role(cluster, "querynode");
    assertThat(qn.get("leader").isNull()).isTrue();
    assertThat(qn.get("leaderError").isNull()).isTrue();
    assertThat(qn.get("servers")).extracting(n -> n.get("serverId").asLong()).containsExactly(2L, 3L, 4L, 5L);
    assertThat(server(qn, 2).get("address").asText()).isEqualTo(querynode2.address());
    assertThat(server(qn, 2).get("stopping").asBoolean()).isFalse();
    assertThat(server(qn, 2).get("health").asText()).isEqualTo("SERVING");
    assertThat(server(qn, 3).get("stopping").asBoolean()).isTrue();
    assertThat(server(qn, 3).get("health").asText()).isEqualTo("SERVING");
    assertThat(server(qn, 4).get("address").asText()).isEqualTo("127.0.0.1:" + closedPort);
    assertThat(server(qn, 4).get("health").asText()).isEqualTo("UNREACHABLE");
    assertThat(server(qn, 5).get("health").asText()).isEqualTo("NOT_SERVING");

    // an exclusive role whose active key is malformed: no leader, and why; a server without a health service
    JsonNode dc = role(cluster, "datacoord");
    assertThat(dc.get("leader").isNull()).isTrue();
    assertThat(dc.get("leaderError").asText()).startsWith("LEADER_MALFORMED: ")
        .contains("'" + ROOT + "datacoord'").doesNotContain("\n").doesNotContain("Exception");
    assertThat(dc.get("leaderError").asText().toLowerCase()).contains("malformed");
    assertThat(server(dc, 6).get("health").asText()).isEqualTo("UNKNOWN");

    // an exclusive role whose active key names a server whose own key is gone
    JsonNode ic = role(cluster, "indexcoord");
    assertThat(ic.get("leader").isNull()).isTrue();
    assertThat(ic.get("leaderError").asText()).startsWith("LEADER_GONE: ").contains(ROOT + "indexcoord-8")
        .contains("gone").doesNotContain("\n");
    assertThat(ic.get("servers")).extracting(n -> n.get("serverId").asLong()).containsExactly(9L);
    assertThat(server(ic, 9).get("health").asText()).isEqualTo("SERVING");

    // an exclusive role without any active key
    JsonNode qc = role(cluster, "querycoord");
    assertThat(qc.get("leader").isNull()).isTrue();
    assertThat(qc.get("leaderError").asText()).startsWith("NO_LEADER: ").contains("'" + ROOT + "querycoord'");
    assertThat(server(qc, 11).get("health").asText()).isEqualTo("SERVING");
  }

  @Test
  void badValueIsSkippedWithAWarningOnStderrAndStdoutIsOneJsonObject() throws Exception {
    String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    Path stdout = Files.createTempFile("connmgr-cluster", ".out");
    Path stderr = Files.createTempFile("connmgr-cluster", ".err");
    try {
      // the CLI's own logging configuration (warnings on stderr), not the tests' one
      Process p = new ProcessBuilder(java, "-Dlogback.configurationFile=logback.xml",
          "-cp", System.getProperty("java.class.path"), Main.class.getName(),
          "cluster", "--etcd", etcd.clientEndpoint(0), "--role", "querynode", "--json")
          .redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
      try {
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      } finally {
        p.destroyForcibly();
      }
      String err = Files.readString(stderr);
      assertThat(p.exitValue()).as(err).isZero();
      assertThat(err.lines().filter(l -> !l.isBlank()).toList()).singleElement().asString()
          .startsWith("warning: ").contains(ROOT + "querynode-7").doesNotContain("Exception");
      List<String> out = Files.readAllLines(stdout).stream().filter(l -> !l.isBlank()).toList();
      assertThat(out).hasSize(1);
      JsonNode qn = role(JSON.readTree(out.get(0)), "querynode");
      assertThat(qn.get("servers")).extracting(n -> n.get("serverId").asLong()).containsExactly(2L, 3L, 4L, 5L);
    } finally {
      Files.deleteIfExists(stdout);
      Files.deleteIfExists(stderr);
    }
  }

  @Test
  void tableShowsEachServerWithStateHealthAndLeaderMarkerAndALinePerRole() {
    Result r = run("cluster", "--etcd", etcd.clientEndpoint(0));
    assertThat(r.code()).as(r.err()).isZero();
    List<String> lines = r.out().lines().toList();
    assertThat(lines.get(0)).matches("ROLE +ID +ADDRESS +STATE +HEALTH +LEADER");
    assertThat(lines).extracting(l -> l.replaceAll(" {2,}", " ")).contains(
        row("datacoord", 6, "127.0.0.1:" + noHealth.getPort(), "serving", "UNKNOWN", ""),
        row("indexcoord", 9, indexcoord9.address(), "serving", "SERVING", ""),
        row("querycoord", 11, querycoord11.address(), "serving", "SERVING", ""),
        row("querynode", 2, querynode2.address(), "serving", "SERVING", ""),
        row("querynode", 3, querynode3.address(), "stopping", "SERVING", ""),
        row("querynode", 4, "127.0.0.1:" + closedPort, "serving", "UNREACHABLE", ""),
        row("querynode", 5, querynode5.address(), "serving", "NOT_SERVING", ""),
        row("rootcoord", 1, rootcoord.address(), "serving", "SERVING", "*"));
    assertThat(lines).filteredOn(l -> l.matches("\\S+ +\\d+ .*")).hasSize(8);
    assertThat(lines).contains("rootcoord: leader 1 (" + rootcoord.address() + ")", "querynode: not exclusive");
    assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("datacoord: no leader: LEADER_MALFORMED: "));
    assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("indexcoord: no leader: LEADER_GONE: "));
    assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("querycoord: no leader: NO_LEADER: "));
    assertThat(lines.get(lines.size() - 1))
        .matches("8 server\\(s\\) in 5 role\\(s\\) at revision \\d+, 1 unreachable, \\d+ invalid value\\(s\\) skipped");
  }

  /** A table row with its padding collapsed to one space (an empty last cell leaves nothing). */
  private static String row(String role, long id, String address, String state, String health, String leader) {
    return (role + " " + id + " " + address + " " + state + " " + health + " " + leader).strip();
  }

  @Test
  void roleOptionShowsOnlyThatRole() throws Exception {
    Result r = run("cluster", "--etcd", etcd.clientEndpoint(0), "--role", "rootcoord", "--json");
    assertThat(r.code()).as(r.err()).isZero();
    JsonNode cluster = JSON.readTree(r.out());
    assertThat(cluster.get("roles")).hasSize(1);
    JsonNode rc = role(cluster, "rootcoord");
    assertThat(rc.get("leader").get("serverId").asLong()).isEqualTo(1);
    assertThat(rc.get("servers")).extracting(n -> n.get("serverId").asLong()).containsExactly(1L);

    Result table = run("cluster", "--etcd", etcd.clientEndpoint(0), "--role", "querynode");
    assertThat(table.code()).as(table.err()).isZero();
    assertThat(table.out()).contains("querynode: not exclusive").doesNotContain("rootcoord")
        .doesNotContain("datacoord").doesNotContain("indexcoord").doesNotContain("querycoord");
  }

  @Test
  void healthServiceOptionAsksForThatService() throws Exception {
    Result known = run("cluster", "--etcd", etcd.clientEndpoint(0), "--role", "querynode", "--json",
        "--health-service", "connmgr.test.v1.EchoService");
    assertThat(known.code()).as(known.err()).isZero();
    // querynode-5 is NOT_SERVING as a whole, but its echo service is SERVING
    assertThat(server(role(JSON.readTree(known.out()), "querynode"), 5).get("health").asText())
        .isEqualTo("SERVING");
    Result unknown = run("cluster", "--etcd", etcd.clientEndpoint(0), "--role", "rootcoord", "--json",
        "--health-service", "no.such.Service");
    assertThat(unknown.code()).as(unknown.err()).isZero();
    assertThat(server(role(JSON.readTree(unknown.out()), "rootcoord"), 1).get("health").asText())
        .isEqualTo("NOT_SERVING");
  }

  @Test
  void badOptionsAreOneLineAndExitTwo() {
    String url = etcd.clientEndpoint(0);
    for (String[] args : List.of(
        new String[] {"cluster", "--etcd", url, "--health-timeout", "soon"},
        new String[] {"cluster", "--etcd", url, "--health-timeout", "0ms"},
        new String[] {"cluster", "--etcd", url, "--health-timeout", "1m"},
        new String[] {"cluster", "--etcd", url, "--timeout", "five"},
        new String[] {"cluster", "--etcd", url, "--root", "no-slash"},
        new String[] {"cluster", "--etcd", "localhost:2379"},
        new String[] {"cluster"},
        new String[] {"cluster", "--etcd", url, "--bogus"})) {
      Result r = run(args);
      assertThat(r.code()).as(String.join(" ", args)).isEqualTo(2);
      assertThat(r.out()).as(String.join(" ", args)).isEmpty();
      assertThat(r.err().strip()).as(String.join(" ", args)).startsWith("connmgr: ").doesNotContain("\n")
          .doesNotContain("Exception");
    }
    assertThat(run("cluster", "--etcd", url, "--health-timeout", "soon").err().strip())
        .contains("--health-timeout").contains("'soon' is not a duration");
  }

  @Test
  void deadEtcdIsOneLineOnStderrAndExitOne() {
    Result r = run("cluster", "--etcd", "http://127.0.0.1:1", "--timeout", "2");
    assertThat(r.code()).isEqualTo(1);
    assertThat(r.out()).isEmpty();
    assertThat(r.err().strip()).startsWith("connmgr: cannot reach etcd at http://127.0.0.1:1").doesNotContain("\n")
        .doesNotContain("Exception:");
  }

  @Test
  void serversThatNeverAnswerEndAtTheDeadlineAsUnreachable() throws Exception {
    String root = "blackhole/meta/session/";
    List<ServerSocket> silent = new ArrayList<>();
    try {
      // accepted by the kernel (listen backlog) but never read nor answered: each check can only end at its deadline
      for (int i = 0; i < 6; i++) {
        silent.add(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()));
      }
      for (int i = 0; i < silent.size(); i++) {
        put(root + "querynode-" + (i + 1), session(i + 1, "querynode", "127.0.0.1:" + silent.get(i).getLocalPort(),
            ""));
      }
      put(root + "querynode-20", session(20, "querynode", "127.0.0.1:" + closedPort, ""));
      put(root + "querynode-21", session(21, "querynode", "127.0.0.1:" + closedPortOtherThan(closedPort), ""));
      put(root + "mixcoord", session(30, "mixcoord", "127.0.0.1:" + silent.get(0).getLocalPort(),
          ",\"Exclusive\":true"));
      put(root + "mixcoord-30", session(30, "mixcoord", "127.0.0.1:" + silent.get(0).getLocalPort(),
          ",\"Exclusive\":true"));

      CompletableFuture<Result> run = CompletableFuture.supplyAsync(() -> run("cluster", "--etcd",
          etcd.clientEndpoint(0), "--root", root, "--health-timeout", "1s", "--json"));
      await().atMost(Duration.ofSeconds(60)).until(run::isDone);
      Result r = run.get();
      assertThat(r.code()).as(r.err()).isZero();
      JsonNode cluster = JSON.readTree(r.out());
      JsonNode qn = role(cluster, "querynode");
      assertThat(qn.get("servers")).hasSize(8)
          .allSatisfy(s -> assertThat(s.get("health").asText()).isEqualTo("UNREACHABLE"));
      JsonNode mix = role(cluster, "mixcoord");
      assertThat(mix.get("leader").get("serverId").asLong()).isEqualTo(30);
      assertThat(server(mix, 30).get("health").asText()).isEqualTo("UNREACHABLE");
    } finally {
      for (ServerSocket s : silent) {
        s.close();
      }
    }
  }

  private static int closedPortOtherThan(int port) throws Exception {
    int p;
    do {
      p = closedPort();
    } while (p == port);
    return p;
  }
}
