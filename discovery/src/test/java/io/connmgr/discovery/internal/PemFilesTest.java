package io.connmgr.discovery.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.connmgr.testing.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEM reading: every format we read, and one clear line naming the field and file for everything we do not. */
class PemFilesTest {

  @TempDir
  static Path dir;
  static TestPki pki;
  static TestPki.Issued server;

  @BeforeAll
  static void pki() {
    pki = TestPki.create(dir, "ca");
    server = pki.server("server");
  }

  @Test
  void readsCertificatesAndPkcs8Keys() throws Exception {
    List<X509Certificate> ca = PemFiles.certificates("tls.ca", pki.caFile());
    assertThat(ca).hasSize(1);
    List<X509Certificate> chain = PemFiles.identityChain("tls.cert", server.cert(), Instant.now());
    PrivateKey key = PemFiles.privateKey("tls.key", server.key());
    PemFiles.checkPair("tls.key", server.key(), key, server.cert(), chain.get(0));
    assertThat(Files.readString(server.key())).contains("BEGIN PRIVATE KEY");
  }

  @Test
  void readsTraditionalKeys() throws Exception {
    TestPki.Issued rsa = pki.serverRsa("rsa");
    Path pkcs1 = TestPki.writePkcs1Key(rsa, dir.resolve("rsa-pkcs1.pem"));
    assertThat(Files.readString(pkcs1)).contains("BEGIN RSA PRIVATE KEY");
    PrivateKey k1 = PemFiles.privateKey("tls.key", pkcs1);
    PemFiles.checkPair("tls.key", pkcs1, k1, rsa.cert(), PemFiles.certificates("tls.cert", rsa.cert()).get(0));

    Path sec1 = TestPki.writePkcs1Key(server, dir.resolve("ec-sec1.pem"));
    assertThat(Files.readString(sec1)).contains("BEGIN EC PRIVATE KEY");
    PrivateKey k2 = PemFiles.privateKey("tls.key", sec1);
    PemFiles.checkPair("tls.key", sec1, k2, server.cert(), PemFiles.certificates("tls.cert", server.cert()).get(0));
  }

  @Test
  void refusesWhatItDoesNotRead() throws Exception {
    Path missing = dir.resolve("missing.pem");
    assertThatThrownBy(() -> PemFiles.certificates("tls.ca", missing))
        .hasMessage("tls.ca: cannot read " + missing + " (no such file)");
    assertThatThrownBy(() -> PemFiles.certificates("tls.ca", dir))
        .hasMessage("tls.ca: cannot read " + dir + " (a directory)");
    Path garbage = Files.writeString(dir.resolve("garbage.pem"), "not a certificate\n");
    assertThatThrownBy(() -> PemFiles.certificates("tls.ca", garbage))
        .hasMessage("tls.ca: " + garbage + " is not a PEM file (no -----BEGIN CERTIFICATE----- block)");
    assertThatThrownBy(() -> PemFiles.certificates("tls.cert", server.key()))
        .hasMessage("tls.cert: " + server.key() + " holds no certificate, only PRIVATE KEY");
    assertThatThrownBy(() -> PemFiles.privateKey("tls.key", server.cert()))
        .hasMessageStartingWith("tls.key: " + server.cert() + " holds no private key, only CERTIFICATE")
        .hasMessageContaining("openssl pkcs8 -topk8 -nocrypt");
    Path encrypted = TestPki.writeEncryptedPkcs8Key(server, dir.resolve("enc.pem"), "secret".toCharArray());
    assertThatThrownBy(() -> PemFiles.privateKey("tls.key", encrypted))
        .hasMessageStartingWith("tls.key: " + encrypted + " holds an encrypted PKCS#8 key")
        .hasMessageContaining("openssl pkcs8 -in");
    Path broken = Files.writeString(dir.resolve("broken.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assertThatThrownBy(() -> PemFiles.privateKey("tls.key", broken))
        .hasMessage("tls.key: " + broken + " holds a PKCS#8 private key that does not parse as RSA, EC, Ed25519 or DSA");
  }

  @Test
  void refusesAnExpiredCertificateAndAKeyOfAnotherCertificate() {
    TestPki.Issued expired = pki.expiredServer("old");
    assertThatThrownBy(() -> PemFiles.identityChain("tls.cert", expired.cert(), Instant.now()))
        .hasMessageStartingWith("tls.cert: the certificate in " + expired.cert())
        .hasMessageContaining(" expired on ");
    TestPki.Issued other = pki.client("other");
    PrivateKey otherKey = PemFiles.privateKey("tls.key", other.key());
    X509Certificate cert = PemFiles.certificates("tls.cert", server.cert()).get(0);
    assertThatThrownBy(() -> PemFiles.checkPair("tls.key", other.key(), otherKey, server.cert(), cert))
        .hasMessageStartingWith("tls.key: " + other.key() + " does not belong to the certificate in " + server.cert());
  }

  @Test
  void describesHandshakeFailures() {
    assertThat(PemFiles.describeHandshakeFailure(new RuntimeException("io exception", new SSLHandshakeException(
        "PKIX path building failed: unable to find valid certification path to requested target"))))
        .startsWith("TLS: the server's certificate is not signed by a trusted CA");
    assertThat(PemFiles.describeHandshakeFailure(new SSLHandshakeException("Received fatal alert: certificate_required")))
        .startsWith("TLS: the server requires a client certificate");
    assertThat(PemFiles.describeHandshakeFailure(new SSLHandshakeException(
        "No subject alternative names matching IP address 127.0.0.1 found")))
        .startsWith("TLS: the server's certificate does not match the name verified");
    assertThat(PemFiles.describeHandshakeFailure(new RuntimeException("connection refused"))).isNull();
  }
}
