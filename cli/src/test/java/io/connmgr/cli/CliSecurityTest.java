package io.connmgr.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testing.TestPki;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sessions} and {@code watch} against etcd with TLS, client certificates and authentication, as a read-only
 * user; every bad option or file is one line with exit 2, a refused or failed connection one line with exit 1.
 */
class CliSecurityTest {

  static final String ROOT = "by-dev/meta/session/";

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember().withClientCertAuth().withAuth(ROOT);

  @TempDir
  static Path dir;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static Client client;
  private static TestPki.Issued cert;
  private static Path passwordFile;

  @BeforeAll
  static void seed() throws Exception {
    client = etcd.newClient();
    put(ROOT + "querynode-5", "{\"ServerID\":5,\"ServerName\":\"querynode\",\"Address\":\"10.97.6.5:21123\"}");
    cert = etcd.clientCert("cli");
    passwordFile = Files.writeString(dir.resolve("reader.pw"), etcd.password(EtcdCluster.READER) + "\n");
  }

  @AfterAll
  static void close() {
    client.close();
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

  private static List<String> secure(String command, String... more) {
    List<String> a = new ArrayList<>(List.of(command, "--etcd", etcd.clientEndpoint(0), "--cacert",
        etcd.caFile().toString(), "--cert", cert.cert().toString(), "--key", cert.key().toString(), "--user",
        EtcdCluster.READER));
    a.addAll(List.of(more));
    return a;
  }

  @Test
  void sessionsAsAReadOnlyUserOverMutualTls() throws Exception {
    Result r = run(secure("sessions", "--password-file", passwordFile.toString(), "--json").toArray(String[]::new));
    assertThat(r.err()).isEmpty();
    assertThat(r.code()).isZero();
    JsonNode arr = JSON.readTree(r.out());
    assertThat(arr).hasSize(1);
    assertThat(arr.get(0).get("serverId").asLong()).isEqualTo(5);
  }

  @Test
  void watchWithThePasswordInTheEnvironment() throws Exception {
    CliProcess cli = CliProcess.start(secure("watch", "--json"),
        Map.of(EtcdSecurity.PASSWORD_ENV, etcd.password(EtcdCluster.READER)));
    Process p = cli.process;
    List<JsonNode> lines = cli.lines;
    try {
      await().atMost(Duration.ofSeconds(30)).until(() -> lines.size() >= 1);
      put(ROOT + "querynode-8", "{\"ServerID\":8,\"ServerName\":\"querynode\",\"Address\":\"10.0.0.8:1\"}");
      await().atMost(Duration.ofSeconds(10)).until(() -> lines.stream()
          .anyMatch(n -> n.get("key").asText().equals(ROOT + "querynode-8")));
      p.destroy();
      assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
      assertThat(cli.stderr()).doesNotContain("Exception").doesNotContain(etcd.password(EtcdCluster.READER));
    } finally {
      cli.close();
      client.getKVClient().delete(ByteSequence.from(ROOT + "querynode-8", StandardCharsets.UTF_8)).get(10,
          TimeUnit.SECONDS);
    }
  }

  @Test
  void badOptionsAndFilesExitTwoWithOneLine() throws Exception {
    Path missing = dir.resolve("missing.pem");
    assertOneLine(run("sessions", "--etcd", etcd.clientEndpoint(0), "--cacert", missing.toString()), 2,
        "connmgr: --cacert: cannot read " + missing + " (no such file)");
    assertOneLine(run("sessions", "--etcd", etcd.clientEndpoint(0), "--cert", cert.cert().toString(), "--key",
        cert.key().toString()), 2, "connmgr: --cacert: required with --cert and --key");
    assertOneLine(run(secure("sessions").toArray(String[]::new)), 2,
        "connmgr: --user reader: needs --password-file FILE or the environment variable CONNMGR_ETCD_PASSWORD");
    assertOneLine(run("sessions", "--etcd", etcd.clientEndpoint(0), "--password-file", passwordFile.toString()), 2,
        "connmgr: --password-file: needs --user");
    TestPki.Issued expired = etcd.pki().expiredServer("expired");
    Result r = run("sessions", "--etcd", etcd.clientEndpoint(0), "--cacert", etcd.caFile().toString(), "--cert",
        expired.cert().toString(), "--key", expired.key().toString());
    assertOneLine(r, 2, "connmgr: --cert: the certificate in " + expired.cert());
    assertThat(r.err()).contains("expired on");
    Path encrypted = TestPki.writeEncryptedPkcs8Key(cert, dir.resolve("enc.pem"), "pw".toCharArray());
    assertOneLine(run("sessions", "--etcd", etcd.clientEndpoint(0), "--cacert", etcd.caFile().toString(), "--cert",
        cert.cert().toString(), "--key", encrypted.toString()), 2,
        "connmgr: --key: " + encrypted + " holds an encrypted PKCS#8 key");
    assertOneLine(run("sessions", "--etcd", etcd.clientEndpoint(0).replace("https", "http"), "--cacert",
        etcd.caFile().toString()), 2, "connmgr: --etcd: TLS is configured (tls.ca) but not every endpoint is https://");
  }

  @Test
  void refusedOrFailedConnectionsExitOneWithOneLine() throws Exception {
    Path wrong = Files.writeString(dir.resolve("wrong.pw"), "not-the-password\n");
    Result r = run(secure("sessions", "--password-file", wrong.toString()).toArray(String[]::new));
    assertOneLine(r, 1, "connmgr: etcd at " + etcd.clientEndpoint(0) + " refused: ");
    assertThat(r.err()).contains("etcd refused the user name or password");
    TestPki other = TestPki.create(dir, "other-ca");
    Result tls = run("sessions", "--etcd", etcd.clientEndpoint(0), "--cacert", other.caFile().toString(), "--cert",
        cert.cert().toString(), "--key", cert.key().toString(), "--timeout", "3");
    assertOneLine(tls, 1, "connmgr: cannot reach etcd at " + etcd.clientEndpoint(0));
    assertThat(tls.err()).contains("TLS: etcd's certificate is not signed by a trusted CA");
    Result w = run(secure("watch", "--password-file", wrong.toString(), "--timeout", "5").toArray(String[]::new));
    assertOneLine(w, 1, "connmgr: etcd at " + etcd.clientEndpoint(0) + " refused: ");
  }

  private static void assertOneLine(Result r, int code, String start) {
    assertThat(r.code()).as(r.err()).isEqualTo(code);
    assertThat(r.err().strip()).startsWith(start).doesNotContain("\n").doesNotContain("\tat ");
    assertThat(r.out()).isEmpty();
  }
}
