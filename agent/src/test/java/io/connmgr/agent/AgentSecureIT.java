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
import io.connmgr.testing.TestPki;
import io.connmgr.testservers.ChildJvm;
import io.connmgr.testservers.EchoServer;
import java.io.File;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The agent's keys for etcd over mutual TLS with authentication: an unmodified application reads the sessions as a
 * read-only user (password from the environment), fails fast on deregistration and restores; the password is never
 * in its output.
 */
@ExtendWith(LeakCheck.class)
class AgentSecureIT {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember().withClientCertAuth().withAuth(KeyLayout.DEFAULT_ROOT);

  @Test
  void aMappedTargetOverMutualTlsAndAuthentication() throws Exception {
    try (EchoServer server = EchoServer.start(7, "querynode"); EtcdDiscovery registry = registry()) {
      Session session = Session.builder("querynode", server.address()).serverId(7).build();
      Registration reg = registry.register(session, Duration.ofSeconds(10), RegistrationListener.NONE)
          .get(10, TimeUnit.SECONDS);
      try (ChildJvm app = app(";targets=" + server.address() + "=querynode")) {
        assertThat(ask(app, "channel managed " + server.address(), "CHANNEL"))
            .isEqualTo("CHANNEL " + server.address());
        assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO OK querynode");

        int seen = app.lines().size();
        app.send("hold 60000");
        await().atMost(AgentIT.WAIT).until(() -> server.inFlightHolds() == 1);
        reg.closeAsync().get(10, TimeUnit.SECONDS);
        String failed = app.awaitLine("HOLD ", seen, AgentIT.WAIT);
        String[] f = failed.split(" ", 4);
        assertThat(f[1]).as(failed).isEqualTo("UNAVAILABLE");
        assertThat(Long.parseLong(f[2])).as("failed at once: " + failed).isLessThan(10_000);

        registry.register(session, Duration.ofSeconds(10), RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
        await().atMost(AgentIT.WAIT).until(() -> ask(app, "echo 2000", "ECHO").startsWith("ECHO OK querynode"));
        assertThat(app.lines()).noneMatch(l -> l.contains(etcd.password(EtcdCluster.READER)));
      }
    }
  }

  @Test
  void theAllowKeyKeepsCallsAwayFromSessionsOutsideIt() throws Exception {
    try (EchoServer server = EchoServer.start(8, "datanode"); EtcdDiscovery registry = registry()) {
      Registration reg = registry.register(Session.builder("datanode", server.address()).serverId(8).build(),
          Duration.ofSeconds(10), RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
      try (ChildJvm app = app(";allow=10.0.0.0/8")) {
        assertThat(ask(app, "channel managed session:///datanode", "CHANNEL")).isEqualTo("CHANNEL datanode");
        // the session (127.0.0.1) is outside 10.0.0.0/8: the channel has no server, the call fails at once
        assertThat(ask(app, "echo 10000", "ECHO")).startsWith("ECHO FAIL UNAVAILABLE");
        await().atMost(AgentIT.WAIT).until(() -> app.lines().stream()
            .anyMatch(l -> l.contains("[connmgr-agent]") && l.contains("is not allowed by")));
        assertThat(server.callsServed()).isZero();
        reg.closeAsync().get(10, TimeUnit.SECONDS);
      }
    }
  }

  /** A registrar as the read-write user over mutual TLS. */
  private static EtcdDiscovery registry() {
    TestPki.Issued cert = etcd.clientCert("registrar");
    return EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).tls(etcd.caFile(), cert.cert(), cert.key())
        .auth(EtcdCluster.WRITER, etcd.password(EtcdCluster.WRITER).toCharArray()).build();
  }

  /**
   * The test application (grpc-java latest) under the agent, reading etcd over mutual TLS as the read-only user whose
   * password is in its environment, with {@code extraOptions} appended to the agent's options; once READY.
   */
  private static ChildJvm app(String extraOptions) throws InterruptedException {
    TestPki.Issued cert = etcd.clientCert("echo-app");
    Path dir = AgentIT.APPS.resolve("grpc-latest").resolve("target");
    String options = "etcd=" + String.join(",", etcd.clientEndpoints()) + ";tls.ca=" + etcd.caFile() + ";tls.cert="
        + cert.cert() + ";tls.key=" + cert.key() + ";user=" + EtcdCluster.READER + extraOptions;
    ChildJvm app = ChildJvm.java(List.of("-javaagent:" + AgentIT.AGENT.toAbsolutePath() + "=" + options,
        "-cp", dir.resolve("echo-app.jar") + File.pathSeparator + dir.resolve("lib") + "/*",
        "io.connmgr.testapp.EchoApp"), Map.of("CONNMGR_ETCD_PASSWORD", etcd.password(EtcdCluster.READER)));
    try {
      app.awaitLine("READY", AgentIT.WAIT);
    } catch (RuntimeException | InterruptedException | Error e) {
      app.close();
      throw e;
    }
    return app;
  }

  private static String ask(ChildJvm app, String command, String prefix) throws InterruptedException {
    int seen = app.lines().size();
    app.send(command);
    return app.awaitLine(prefix, seen, AgentIT.WAIT);
  }
}
