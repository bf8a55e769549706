package io.connmgr.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.Registration;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testservers.ChildJvm;
import io.connmgr.testservers.EchoServer;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The agent in a real, unmodified gRPC application (agent-testapp, a separate JVM with no dependency on connmgr),
 * against a real etcd and real Netty servers, on each grpc-java version the agent supports.
 */
@ExtendWith(LeakCheck.class) // the test JVM's EtcdDiscovery must leave no connmgr thread behind
class AgentIT {

  static final Path AGENT = Path.of(System.getProperty("connmgr.agent.jar", "target/connmgr-agent.jar"));
  static final Path APPS = Path.of(System.getProperty("connmgr.testapp.dir", "../agent-testapp"));
  static final Duration WAIT = Duration.ofSeconds(30);

  @RegisterExtension
  final EtcdCluster etcd = EtcdCluster.singleMember();

  private final List<AutoCloseable> closeables = new ArrayList<>();
  private EtcdDiscovery registry;

  @BeforeEach
  void setUp() {
    assertThat(AGENT).as("the agent jar (built by mvn package)").isRegularFile();
    registry = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).build();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
    registry.close();
  }

  private <T extends AutoCloseable> T closeLater(T c) {
    closeables.add(c);
    return c;
  }

  /** The test application built against grpc-java {@code variant} (1.60, 1.70, latest). */
  private ChildJvm app(String variant, String agentOptions, Map<String, String> env) throws Exception {
    Path dir = APPS.resolve("grpc-" + variant).resolve("target");
    assertThat(dir.resolve("echo-app.jar")).as("the test application for grpc " + variant).isRegularFile();
    List<String> args = new ArrayList<>();
    if (agentOptions != null) {
      args.add("-javaagent:" + AGENT.toAbsolutePath() + (agentOptions.isEmpty() ? "" : "=" + agentOptions));
    }
    args.addAll(List.of("-cp", dir.resolve("echo-app.jar") + File.pathSeparator + dir.resolve("lib") + "/*",
        "io.connmgr.testapp.EchoApp"));
    ChildJvm app = closeLater(ChildJvm.java(args, env));
    String ready = app.awaitLine("READY", WAIT);
    String expected = variant.equals("latest") ? "grpc-api-" : "grpc-api-" + variant + ".";
    assertThat(ready).as("the application runs on its own grpc-java").contains(expected);
    return app;
  }

  /** Sends {@code command} and returns the first line starting with {@code prefix} that answers it. */
  private static String ask(ChildJvm app, String command, String prefix) throws InterruptedException {
    int seen = app.lines().size();
    app.send(command);
    return app.awaitLine(prefix, seen, WAIT);
  }

  private Registration register(EchoServer s) throws Exception {
    return registry.register(Session.builder(s.serverName(), s.address()).serverId(s.serverId()).build(),
        Duration.ofSeconds(10), RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
  }

  private void deleteSession(EchoServer s) throws Exception {
    try (Client c = etcd.newClient()) {
      String key = KeyLayout.MILVUS.sessionKey(s.serverName(), s.serverId());
      assertThat(c.getKVClient().delete(ByteSequence.from(key, StandardCharsets.UTF_8)).get(10, TimeUnit.SECONDS)
          .getDeleted()).as("deleted " + key).isEqualTo(1);
    }
  }

  /**
   * Starts a call {@code server} holds, deletes the server's session once the call is there, and returns the line
   * {@code HOLD <code> <ms> <description>} that ended the call.
   */
  private String holdThenDeleteSession(ChildJvm app, EchoServer server, long deadlineMs) throws Exception {
    int seen = app.lines().size();
    app.send("hold " + deadlineMs);
    await().atMost(WAIT).until(() -> server.inFlightHolds() == 1);
    deleteSession(server);
    return app.awaitLine("HOLD ", seen, WAIT);
  }

  private String options(String extra) {
    return "etcd=" + String.join(",", etcd.clientEndpoints()) + ";retry.initial=50ms;retry.max=500ms" + extra;
  }

  @ParameterizedTest(name = "grpc-java {0}")
  @ValueSource(strings = {"1.60", "1.70", "latest"})
  void aMappedTargetFailsFastOnDeregistrationAndRestores(String variant) throws Exception {
    EchoServer server = closeLater(EchoServer.start(7, "querynode"));
    register(server);
    // the application addresses a fixed host; the agent maps it to the live sessions of role querynode
    ChildJvm app = app(variant, options(";targets=" + server.address() + "=querynode"), Map.of());
    assertThat(ask(app, "channel managed " + server.address(), "CHANNEL")).isEqualTo("CHANNEL " + server.address());
    assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK querynode");

    String failed = holdThenDeleteSession(app, server, 60000);
    // "HOLD <code> <ms> <description>": connmgr's status, long before the 60 s deadline
    String[] f = failed.split(" ", 4);
    assertThat(f[1]).as(failed).isEqualTo("UNAVAILABLE");
    assertThat(f[3]).as(failed).startsWith("querynode-7 (" + server.address() + ")");
    assertThat(Long.parseLong(f[2])).as("failed at once, not at the deadline: " + failed).isLessThan(10_000);

    register(server);
    await().atMost(WAIT).until(() -> ask(app, "echo 2000", "ECHO").startsWith("ECHO OK querynode"));
  }

  @ParameterizedTest(name = "grpc-java {0}")
  @ValueSource(strings = {"1.60", "1.70", "latest"})
  void withoutTheAgentTheSameCallWaitsForItsDeadline(String variant) throws Exception {
    EchoServer server = closeLater(EchoServer.start(7, "querynode"));
    register(server);
    ChildJvm app = app(variant, null, Map.of());
    ask(app, "channel managed " + server.address(), "CHANNEL");
    assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK querynode");

    String failed = holdThenDeleteSession(app, server, 3000);
    assertThat(failed).startsWith("HOLD DEADLINE_EXCEEDED");
    assertThat(Long.parseLong(failed.split(" ")[2])).isGreaterThanOrEqualTo(2_900);
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"managed", "netty", "grpc"})
  void aSessionTargetResolvesThroughConnmgrWhicheverBuilderMadeTheChannel(String kind) throws Exception {
    EchoServer a = closeLater(EchoServer.start(1, "querynode"));
    EchoServer b = closeLater(EchoServer.start(2, "querynode"));
    register(a);
    register(b);
    ChildJvm app = app("latest", options(""), Map.of());
    assertThat(ask(app, "channel " + kind + " session:///querynode", "CHANNEL")).isEqualTo("CHANNEL querynode");
    await().atMost(WAIT).until(() -> {
      ask(app, "echo 2000", "ECHO");
      return a.callsServed() > 0 && b.callsServed() > 0;
    });
    assertThat(a.lastServerIdHeader()).as("the ServerID header").isEqualTo("1");
  }

  @Test
  void configurationComesFromOptionsThenFileThenEnvironment() throws Exception {
    EchoServer server = closeLater(EchoServer.start(3, "datanode"));
    register(server);
    Path file = Files.createTempFile("connmgr-agent", ".properties");
    closeLater(() -> Files.deleteIfExists(file));
    // the file maps the target and names a wrong etcd; the options' etcd wins; the environment's log level loses to
    // the file's
    Files.writeString(file, "targets=" + server.address() + "=datanode\netcd=http://127.0.0.1:1\nlog=debug\n");
    ChildJvm app = app("1.70", "config=" + file + ";etcd=" + String.join(",", etcd.clientEndpoints()),
        Map.of("CONNMGR_LOG", "error", "CONNMGR_ROOT", KeyLayout.DEFAULT_ROOT));
    ask(app, "channel grpc " + server.address(), "CHANNEL");
    assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK datanode");
    assertThat(app.lines()).anyMatch(l -> l.contains("[connmgr-agent] DEBUG"))
        .anyMatch(l -> l.contains("channels to " + server.address() + " go to the live sessions of role datanode"));
  }

  @Test
  void aBadConfigurationLeavesTheApplicationRunningWithoutTheAgent() throws Exception {
    EchoServer server = closeLater(EchoServer.start(4, "querynode"));
    ChildJvm app = app("latest", "targets=" + server.address() + "=querynode;retry.max=soon", Map.of());
    assertThat(app.lines()).filteredOn(l -> l.startsWith("[connmgr-agent]")).singleElement().asString()
        .isEqualTo("[connmgr-agent] ERROR retry.max (agent option retry.max): 'soon' is not a duration like 250ms, 2s"
            + " or 1m; the agent is disabled and the application runs without it");
    // no session is registered: only an untouched channel reaches the server
    ask(app, "channel managed " + server.address(), "CHANNEL");
    assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK querynode");
  }

  @Test
  void channelsToOtherTargetsAreLeftUntouched() throws Exception {
    EchoServer mapped = closeLater(EchoServer.start(5, "querynode"));
    EchoServer other = closeLater(EchoServer.start(6, "proxy"));
    register(mapped);
    register(other);
    ChildJvm app = app("latest", options(";targets=" + mapped.address() + "=querynode"), Map.of());
    assertThat(ask(app, "channel netty " + other.address(), "CHANNEL")).isEqualTo("CHANNEL " + other.address());
    assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK proxy");
    assertThat(other.lastServerIdHeader()).as("no ServerID header on an untouched channel").isNull();
    assertThat(holdThenDeleteSession(app, other, 3000)).startsWith("HOLD DEADLINE_EXCEEDED");
  }

  @Test
  void attachLoadsTheAgentIntoARunningApplication() throws Exception {
    EchoServer server = closeLater(EchoServer.start(8, "querynode"));
    register(server);
    ChildJvm app = app("latest", null, Map.of());
    // a channel built before the agent is there stays a plain channel
    ask(app, "channel managed " + server.address(), "CHANNEL");
    assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK querynode");

    Attach.attach(Long.toString(app.process().pid()), AGENT, options(";targets=" + server.address() + "=querynode"));
    app.awaitLine("[connmgr-agent] INFO AgentMain - started (attached) in ", WAIT);

    assertThat(ask(app, "channel managed " + server.address(), "CHANNEL")).isEqualTo("CHANNEL " + server.address());
    assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK querynode");
    assertThat(holdThenDeleteSession(app, server, 60000)).startsWith("HOLD UNAVAILABLE");
  }

  @Test
  void attachRefusesABadConfigurationAndSaysWhy() throws Exception {
    ChildJvm app = app("latest", null, Map.of());
    org.assertj.core.api.Assertions.assertThatThrownBy(() ->
            Attach.attach(Long.toString(app.process().pid()), AGENT, "targets=nonsense"))
        .hasMessage("targets (agent option targets): 'nonsense' is not host:port=role");
    assertThat(ask(app, "echo 100", "E")).as("still running").startsWith("E");
  }
}
