package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.testing.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad TLS input is refused at {@code build()} with one line naming the field, the file and what is wrong; the name
 * verified per session.
 */
class ServerTlsTest {

  @TempDir
  Path dir;

  private TestPki pki() {
    return TestPki.create(dir, "ca");
  }

  @Test
  void goodFilesBuild() {
    TestPki pki = pki();
    TestPki.Issued client = pki.client("app");
    ServerTls tls = ServerTls.builder().ca(pki.caFile()).identity(client.cert(), client.key()).build();
    assertThat(tls.ca()).isEqualTo(pki.caFile());
    assertThat(tls.cert()).isEqualTo(client.cert());
    assertThat(tls.refreshInterval()).isEqualTo(ServerTls.DEFAULT_REFRESH_INTERVAL);
    assertThat(ServerTls.builder().ca(pki.caFile()).build().cert()).isNull();
  }

  @Test
  void theCaIsRequired() {
    assertThatThrownBy(() -> ServerTls.builder().build()).isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("tls.ca: required");
  }

  @Test
  void aMissingFileIsNamed() {
    Path missing = dir.resolve("nope.pem");
    assertThatThrownBy(() -> ServerTls.builder().ca(missing).build())
        .hasMessage("tls.ca: cannot read " + missing + " (no such file)");
    TestPki pki = pki();
    TestPki.Issued client = pki.client("app");
    assertThatThrownBy(() -> ServerTls.builder().ca(pki.caFile()).identity(client.cert(), missing).build())
        .hasMessage("tls.key: cannot read " + missing + " (no such file)");
  }

  @Test
  void aDirectoryIsNamed() {
    assertThatThrownBy(() -> ServerTls.builder().ca(dir).build())
        .hasMessage("tls.ca: cannot read " + dir + " (a directory)");
  }

  @Test
  void aFileThatIsNotACertificateIsNamed() throws Exception {
    TestPki pki = pki();
    Path garbage = Files.writeString(dir.resolve("garbage.pem"), "hello\n");
    assertThatThrownBy(() -> ServerTls.builder().ca(garbage).build())
        .hasMessage("tls.ca: " + garbage + " is not a PEM file (no -----BEGIN CERTIFICATE----- block)");
    TestPki.Issued client = pki.client("app");
    // a key where the certificate should be
    assertThatThrownBy(() -> ServerTls.builder().ca(pki.caFile()).identity(client.key(), client.key()).build())
        .hasMessage("tls.cert: " + client.key() + " holds no certificate, only PRIVATE KEY");
  }

  @Test
  void anExpiredClientCertificateIsRefusedWithItsDate() {
    TestPki pki = pki();
    TestPki.Issued expired = pki.expiredServer("old-client");
    assertThatThrownBy(() -> ServerTls.builder().ca(pki.caFile()).identity(expired.cert(), expired.key()).build())
        .hasMessageStartingWith("tls.cert: the certificate in " + expired.cert() + " (CN=old-client) expired on ");
  }

  @Test
  void anEncryptedKeyIsRefusedWithTheCommandThatConvertsIt() {
    TestPki pki = pki();
    TestPki.Issued client = pki.client("app");
    Path enc = TestPki.writeEncryptedPkcs8Key(client, dir.resolve("enc-key.pem"), "secret".toCharArray());
    assertThatThrownBy(() -> ServerTls.builder().ca(pki.caFile()).identity(client.cert(), enc).build())
        .hasMessageStartingWith("tls.key: " + enc + " holds an encrypted PKCS#8 key")
        .hasMessageContaining("openssl pkcs8 -in " + enc);
  }

  @Test
  void aKeyThatIsNoKeyIsRefusedWithTheFormatWeRead() {
    TestPki pki = pki();
    TestPki.Issued client = pki.client("app");
    assertThatThrownBy(() -> ServerTls.builder().ca(pki.caFile()).identity(client.cert(), client.cert()).build())
        .hasMessageStartingWith("tls.key: " + client.cert() + " holds no private key, only CERTIFICATE")
        .hasMessageContaining("openssl pkcs8 -topk8 -nocrypt");
  }

  @Test
  void traditionalKeyFormatsAreRead() {
    TestPki pki = pki();
    TestPki.Issued ec = pki.client("app");
    Path sec1 = TestPki.writePkcs1Key(ec, dir.resolve("ec-sec1.pem")); // BEGIN EC PRIVATE KEY
    assertThat(ServerTls.builder().ca(pki.caFile()).identity(ec.cert(), sec1).build().key()).isEqualTo(sec1);
    TestPki.Issued rsa = pki.serverRsa("rsa-client");
    Path pkcs1 = TestPki.writePkcs1Key(rsa, dir.resolve("rsa-pkcs1.pem")); // BEGIN RSA PRIVATE KEY
    assertThat(ServerTls.builder().ca(pki.caFile()).identity(rsa.cert(), pkcs1).build().key()).isEqualTo(pkcs1);
  }

  @Test
  void aKeyOfAnotherCertificateIsRefused() {
    TestPki pki = pki();
    TestPki.Issued a = pki.client("a");
    TestPki.Issued b = pki.client("b");
    assertThatThrownBy(() -> ServerTls.builder().ca(pki.caFile()).identity(a.cert(), b.key()).build())
        .hasMessage("tls.key: " + b.key() + " does not belong to the certificate in " + a.cert() + " (CN=a)");
  }

  @Test
  void settersNameTheirField() {
    assertThatThrownBy(() -> ServerTls.builder().serverName("not a name"))
        .hasMessage("tls.serverName: 'not a name' is not a host name or an IP address");
    assertThatThrownBy(() -> ServerTls.builder().refreshInterval(Duration.ZERO))
        .hasMessage("tls.refreshInterval: must be positive, was PT0S");
  }

  @Test
  void theNameVerifiedIsTheConfiguredOneElseTheSessionsHostNameElseItsHost() {
    TestPki pki = pki();
    ServerTls byDefault = ServerTls.builder().ca(pki.caFile()).build();
    Session plain = Session.builder("querynode", "10.0.0.7:21123").serverId(7).build();
    Session named = Session.builder("querynode", "10.0.0.7:21123").serverId(7).hostName("qn-7.example").build();
    Session v6 = Session.builder("querynode", "[fd00::7]:21123").serverId(7).build();
    assertThat(byDefault.nameFor(plain)).isEqualTo("10.0.0.7");
    assertThat(byDefault.nameFor(named)).isEqualTo("qn-7.example");
    assertThat(byDefault.authorityFor(v6, 21123)).isEqualTo("[fd00::7]:21123");
    ServerTls fixed = ServerTls.builder().ca(pki.caFile()).serverName("querynode.milvus").build();
    assertThat(fixed.nameFor(named)).isEqualTo("querynode.milvus");
    assertThat(fixed.authorityFor(plain, 21123)).isEqualTo("querynode.milvus:21123");
  }

  @Test
  void tlsWithAChannelFactoryIsRefused() {
    TestPki pki = pki();
    ServerTls tls = ServerTls.builder().ca(pki.caFile()).build();
    try (InMemoryRegistry registry = InMemoryRegistry.create()) {
      assertThatThrownBy(() -> ConnectionOptions.builder(registry).tls("querynode", tls)
          .channelFactory((k, s) -> {
            throw new AssertionError();
          }).build())
          .hasMessageStartingWith("tls: applies to the default channel factory only");
      ConnectionOptions o = ConnectionOptions.builder(registry).tls(tls).tls("datanode", tls).build();
      assertThat(o.tls("querynode")).isSameAs(tls);
      assertThat(o.tls("datanode")).isSameAs(tls);
      assertThat(o.channelFactory()).isNull();
    }
  }
}
