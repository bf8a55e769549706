package io.connmgr.connection;

import static io.connmgr.connection.ConnectionManagerTest.echo;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testing.TestPki;
import io.connmgr.testservers.EchoServer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * TLS and mutual TLS to a role's servers through the default Netty factory: real TLS echo servers on loopback, the
 * in-memory registry, certificates from a throwaway CA.
 */
@ExtendWith(LeakCheck.class)
class ServerTlsConnectionTest {

  private static final String ROLE = "querynode";
  private static final RetryPolicy QUICK = RetryPolicy.DEFAULT.withMaxAttempts(2)
      .withBackoff(Duration.ofMillis(50), 2, Duration.ofMillis(100));
  /** Enough attempts to ride through a server restart on the same port. */
  private static final RetryPolicy PATIENT = RetryPolicy.DEFAULT.withMaxAttempts(40)
      .withBackoff(Duration.ofMillis(50), 2, Duration.ofMillis(200));

  @TempDir
  Path dir;

  private final TestCluster cluster = new TestCluster(ROLE);
  private final InMemoryRegistry registry = cluster.registry;
  private final FailureListener listener = new FailureListener();
  private final LogCapture logs = new LogCapture(TlsReloader.class, Connector.class);

  /** Records the message of each failed connect attempt's cause. */
  static final class FailureListener extends RecordingConnectionListener {
    final List<String> failures = new CopyOnWriteArrayList<>();

    @Override
    public void connectFailed(ServerKey server, int attempt, Throwable cause) {
      failures.add(String.valueOf(cause.getMessage()));
      super.connectFailed(server, attempt, cause);
    }
  }

  @AfterEach
  void tearDown() throws Exception {
    logs.close();
    cluster.close();
  }

  private EchoServer tlsServer(long id, int port, TestPki.Issued cert, Path clientCa) {
    EchoServer s = EchoServer.start(id, ROLE, port, new EchoServer.Tls(cert.cert(), cert.key(), clientCa));
    EchoServer old = cluster.servers.put(id, s);
    if (old != null) {
      old.close();
    }
    return s;
  }

  /** Puts the session of server {@code id} at {@code address}, with {@code hostName} if not empty. */
  private void register(long id, String address, String hostName) {
    Session s = Session.builder(ROLE, address).serverId(id).hostName(hostName).build();
    registry.kv().put(registry.layout().sessionKey(ROLE, id), SessionCodec.encode(s));
  }

  private ConnectionManager manager(ServerTls tls) throws Exception {
    return manager(tls, QUICK);
  }

  private ConnectionManager manager(ServerTls tls, RetryPolicy retry) throws Exception {
    return cluster.manager(ConnectionOptions.builder(registry).dependsOn(ROLE).tls(ROLE, tls).retry(retry)
        .listener(listener));
  }

  private static void awaitReady(ConnectionManager cm, long id) {
    await().atMost(Duration.ofSeconds(10)).until(() -> cm.serverState(ROLE, id) == ServerState.READY);
  }

  /** The status of a call to server {@code id} once it is offline. */
  private static Status offlineStatus(ConnectionManager cm, long id) {
    await().atMost(Duration.ofSeconds(15)).until(() -> cm.serverState(ROLE, id) == ServerState.OFFLINE);
    try {
      echo(cm.channel(ROLE, id), "x");
    } catch (StatusRuntimeException e) {
      return e.getStatus();
    }
    throw new AssertionError("a call to an offline server succeeded");
  }

  @Test
  void mutualTlsCallsCarryTheServerIdAndTheClientCertificate() throws Exception {
    TestPki pki = TestPki.create(dir, "ca");
    EchoServer server = tlsServer(7, 0, pki.server("qn-7", "localhost", "127.0.0.1"), pki.caFile());
    EchoServer other = tlsServer(8, 0, pki.server("qn-8", "localhost", "127.0.0.1"), pki.caFile());
    register(7, server.address(), "");
    register(8, other.address(), "");
    TestPki.Issued client = pki.client("app");
    ConnectionManager cm = manager(ServerTls.builder().ca(pki.caFile()).identity(client.cert(), client.key()).build());

    assertThat(echo(cm.channel(ROLE, 7), "hello").getServerId()).isEqualTo(7);
    assertThat(server.lastServerIdHeader()).isEqualTo("7");
    assertThat(server.lastClientCommonName()).isEqualTo("app");
    for (int i = 0; i < 4; i++) {
      echo(cm.roleChannel(ROLE), "spread");
    }
    assertThat(other.lastServerIdHeader()).isEqualTo("8");
    assertThat(other.lastClientCommonName()).isEqualTo("app");
  }

  @Test
  void theNameVerifiedComesFromConfigurationOrTheSessionsHostName() throws Exception {
    TestPki pki = TestPki.create(dir, "ca");
    EchoServer byConfig = tlsServer(1, 0, pki.server("qn-1", "querynode.milvus"), null);
    EchoServer byHostName = tlsServer(2, 0, pki.server("qn-2", "qn-2.example"), null);
    register(1, byConfig.address(), "");
    register(2, byHostName.address(), "qn-2.example");

    ConnectionManager configured = manager(ServerTls.builder().ca(pki.caFile()).serverName("querynode.milvus")
        .build());
    assertThat(echo(configured.channel(ROLE, 1), "hi").getServerId()).isEqualTo(1);

    ConnectionManager fromSession = manager(ServerTls.builder().ca(pki.caFile()).build());
    assertThat(echo(fromSession.channel(ROLE, 2), "hi").getServerId()).isEqualTo(2);
    // server 1's session has no HostName: its address host 127.0.0.1 is verified, and its certificate is not for it
    Status st = offlineStatus(fromSession, 1);
    assertThat(st.getDescription()).startsWith(ROLE + "-1 (" + byConfig.address() + ") is offline after 2 connect "
        + "attempt(s): TLS: the server's certificate does not match the name verified")
        .contains("verifying the name 127.0.0.1");
  }

  @Test
  void aHostNameMismatchFailsWithOneClearLine() throws Exception {
    TestPki pki = TestPki.create(dir, "ca");
    EchoServer server = tlsServer(7, 0, pki.server("qn-7", "other.example"), null);
    register(7, server.address(), "");
    ConnectionManager cm = manager(ServerTls.builder().ca(pki.caFile()).build());

    // a call while it connects fails with grpc-java's status of the failed connection, explained
    assertThatThrownBy(() -> echo(cm.channel(ROLE, 7), "x")).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getDescription())
            .contains("TLS: the server's certificate does not match the name verified"));
    Status st = offlineStatus(cm, 7);
    assertThat(st.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(st.getDescription()).contains("TLS: the server's certificate does not match the name verified")
        .contains("verifying the name 127.0.0.1 against the CA in " + pki.caFile()).doesNotContain("\n");
    assertThat(listener.failures).allSatisfy(m -> assertThat(m).startsWith("connection to " + server.address()
        + " failed: TLS: the server's certificate does not match the name verified"));
    // one WARN for the episode, however many attempts failed the same way
    assertThat(logs.lines(Level.WARN, "connect to " + ROLE + "-7")).hasSize(1);
    assertThat(server.callsServed()).isZero();
  }

  @Test
  void aServerCertificateOfAnotherCaFailsSayingSo() throws Exception {
    TestPki pki = TestPki.create(dir.resolve("ours"), "ours");
    TestPki theirs = TestPki.create(dir.resolve("theirs"), "theirs");
    EchoServer server = tlsServer(7, 0, theirs.server("qn-7", "127.0.0.1"), null);
    register(7, server.address(), "");
    ConnectionManager cm = manager(ServerTls.builder().ca(pki.caFile()).build());

    Status st = offlineStatus(cm, 7);
    assertThat(st.getDescription()).contains("TLS: the server's certificate is not signed by a trusted CA")
        .doesNotContain("\n");
    assertThat(logs.lines(Level.WARN, "not signed by a trusted CA")).isNotEmpty();
  }

  @Test
  void anExpiredServerCertificateFailsSayingSo() throws Exception {
    TestPki pki = TestPki.create(dir, "ca");
    EchoServer server = tlsServer(7, 0, pki.expiredServer("qn-7", "127.0.0.1"), null);
    register(7, server.address(), "");
    ConnectionManager cm = manager(ServerTls.builder().ca(pki.caFile()).build());

    assertThat(offlineStatus(cm, 7).getDescription())
        .contains("TLS: the server's certificate has expired or is not yet valid");
  }

  @Test
  void aServerThatRequiresAClientCertificateSaysSoWhenWeHaveNone() throws Exception {
    TestPki pki = TestPki.create(dir, "ca");
    EchoServer server = tlsServer(7, 0, pki.server("qn-7", "127.0.0.1"), pki.caFile());
    register(7, server.address(), "");
    ConnectionManager cm = manager(ServerTls.builder().ca(pki.caFile()).build());

    assertThat(offlineStatus(cm, 7).getDescription()).contains("TLS: the server requires a client certificate")
        .contains("no client certificate configured");
  }

  @Test
  void rotatedCertificatesFromANewCaAreUsedWithoutARestart() throws Exception {
    TestPki ca1 = TestPki.create(dir.resolve("ca1"), "ca-1");
    TestPki ca2 = TestPki.create(dir.resolve("ca2"), "ca-2");
    // the client's files, rewritten in place by the rotation
    Path clientDir = Files.createDirectories(dir.resolve("client"));
    Path caFile = clientDir.resolve("ca.pem");
    TestPki.Issued clientFiles =
        new TestPki.Issued(clientDir.resolve("client.pem"), clientDir.resolve("client-key.pem"));
    TestPki.replace(ca1.caFile(), caFile);
    TestPki.rotate(ca1.client("app-1"), clientFiles);

    EchoServer server = tlsServer(7, 0, ca1.server("qn-7", "127.0.0.1"), ca1.caFile());
    int port = server.port();
    register(7, server.address(), "");
    ConnectionManager cm = manager(ServerTls.builder().ca(caFile).identity(clientFiles.cert(), clientFiles.key())
        .refreshInterval(Duration.ofMillis(250)).build(), PATIENT); // > the gap between key and cert replaced
    assertThat(echo(cm.channel(ROLE, 7), "before").getServerId()).isEqualTo(7);
    assertThat(server.lastClientCommonName()).isEqualTo("app-1");

    // rotation: the client's files first (the open connection keeps working), then the server, on the same port
    TestPki.replace(ca2.caFile(), caFile);
    TestPki.rotate(ca2.client("app-2"), clientFiles);
    await().atMost(Duration.ofSeconds(10)).until(() -> !logs.lines(Level.INFO, "CN=app-2").isEmpty());
    assertThat(echo(cm.channel(ROLE, 7), "still the old connection").getServerId()).isEqualTo(7);
    server.kill();
    EchoServer rotated = tlsServer(7, port, ca2.server("qn-7", "127.0.0.1"), ca2.caFile());

    await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
        .until(() -> echo(cm.channel(ROLE, 7), "after").getServerId() == 7);
    assertThat(rotated.lastClientCommonName()).isEqualTo("app-2");
    assertThat(logs.lines(Level.WARN, "")).isEmpty();
  }

  @Test
  void aFileRewrittenWithGarbageKeepsThePreviousMaterialAndWarnsOnce() throws Exception {
    TestPki pki = TestPki.create(dir, "ca");
    Path caFile = dir.resolve("client-ca.pem");
    TestPki.replace(pki.caFile(), caFile);
    TestPki.Issued client = pki.client("app");
    EchoServer server = tlsServer(7, 0, pki.server("qn-7", "127.0.0.1"), pki.caFile());
    int port = server.port();
    register(7, server.address(), "");
    ConnectionManager cm = manager(ServerTls.builder().ca(caFile).identity(client.cert(), client.key())
        .refreshInterval(Duration.ofMillis(50)).build(), PATIENT);
    assertThat(echo(cm.channel(ROLE, 7), "before").getServerId()).isEqualTo(7);

    Files.writeString(caFile, "-----BEGIN CERTIFICATE-----\nhalf a certif"); // rewritten in place, cut short
    await().atMost(Duration.ofSeconds(10))
        .until(() -> !logs.lines(Level.WARN, "the previous certificates stay in use").isEmpty());
    assertThat(logs.lines(Level.WARN, "the previous certificates stay in use")).singleElement().asString()
        .contains("tls.ca: " + caFile);

    // a new connection (the server restarted) still uses the previous CA
    server.kill();
    tlsServer(7, port, pki.server("qn-7b", "127.0.0.1"), pki.caFile());
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
        .until(() -> echo(cm.channel(ROLE, 7), "after").getServerId() == 7);
    assertThat(logs.lines(Level.WARN, "the previous certificates stay in use")).hasSize(1);
  }
}
