package io.connmgr.testing;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Objects;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.openssl.jcajce.JceOpenSSLPKCS8EncryptorBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;

/**
 * A throwaway certificate authority for TLS tests: made inside the test (BouncyCastle, no network, no openssl), it
 * issues server and client certificates as PEM files, private keys as unencrypted PKCS#8 ({@code BEGIN PRIVATE KEY},
 * what openssl 3 writes), and can write the same keys in the other formats a user may bring.
 *
 * <pre>{@code
 * TestPki pki = TestPki.create(tempDir, "test-ca");
 * TestPki.Issued server = pki.server("etcd");          // SANs localhost and 127.0.0.1
 * TestPki.Issued client = pki.client("reader");        // CN=reader: etcd's user with --client-cert-auth
 * EtcdDiscovery.builder().tls(pki.caFile(), client.cert(), client.key())...
 * }</pre>
 *
 * <p>Certificates are valid from one hour ago for ten years, except {@link #expiredServer}'s, which ended yesterday.
 * Keys are EC P-256 (fast to make) unless an {@code ...Rsa} method is used.
 *
 * <p><b>Threading.</b> Thread-safe: issuing is serialized on the instance. Every method writes files and blocks
 * while doing so. No static state: BouncyCastle's provider is used by reference, never installed in the JVM.
 */
public final class TestPki {

  private final Path dir;
  private final X500Name caName;
  private final KeyPair caKeys;
  private final X509Certificate caCert;
  private final Path caFile;
  private long serial = 1;

  private TestPki(Path dir, String name) throws GeneralSecurityException, IOException, OperatorCreationException {
    this.dir = dir;
    this.caName = new X500Name("CN=" + name);
    this.caKeys = ec();
    Instant now = Instant.now();
    X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(caName, BigInteger.valueOf(serial++),
        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(3650))), caName,
        caKeys.getPublic());
    JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
    b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
    b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
    b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(caKeys.getPublic()));
    this.caCert = new JcaX509CertificateConverter().getCertificate(b.build(signer(caKeys.getPrivate())));
    this.caFile = dir.resolve(name + ".pem");
    writePem(caFile, caCert);
  }

  /**
   * A new CA named {@code caName}, its certificate written to {@code <dir>/<caName>.pem}.
   *
   * @throws IllegalStateException if the files cannot be written or the JDK lacks EC
   */
  public static TestPki create(Path dir, String caName) {
    Objects.requireNonNull(dir, "dir");
    Objects.requireNonNull(caName, "caName");
    try {
      Files.createDirectories(dir);
      return new TestPki(dir, caName);
    } catch (GeneralSecurityException | IOException | OperatorCreationException e) {
      throw new IllegalStateException("cannot create a test CA in " + dir + ": " + e, e);
    }
  }

  /** The CA's certificate (PEM): what a client trusts to verify a server, or a server to verify clients. */
  public Path caFile() {
    return caFile;
  }

  /** A certificate file and its private key file. */
  public record Issued(Path cert, Path key) {}

  /**
   * A server certificate (usable as a client certificate too, as etcd uses its own), EC key. SANs: IP literals
   * become IP SANs, anything else DNS SANs; none given means {@code localhost} and {@code 127.0.0.1}. Files:
   * {@code <name>.pem}, {@code <name>-key.pem}.
   */
  public synchronized Issued server(String name, String... sans) {
    return issue(name, name, sans, true, false, false);
  }

  /** {@link #server} with an RSA 2048 key (for tests of PKCS#1 {@code BEGIN RSA PRIVATE KEY} files). */
  public synchronized Issued serverRsa(String name, String... sans) {
    return issue(name, name, sans, true, false, true);
  }

  /** A client certificate with {@code CN=<commonName>} (etcd's user with {@code --client-cert-auth}), EC key. */
  public synchronized Issued client(String commonName) {
    return issue("client-" + commonName, commonName, new String[0], false, false, false);
  }

  /** {@link #server} whose validity ended yesterday. */
  public synchronized Issued expiredServer(String name, String... sans) {
    return issue(name, name, sans, true, true, false);
  }

  /**
   * Writes {@code issued}'s key in the traditional format: {@code BEGIN RSA PRIVATE KEY} (PKCS#1) for RSA, {@code BEGIN
   * EC PRIVATE KEY} (SEC1) for EC.
   */
  public static Path writePkcs1Key(Issued issued, Path out) {
    try (JcaPEMWriter w = new JcaPEMWriter(Files.newBufferedWriter(out, StandardCharsets.US_ASCII))) {
      // BouncyCastle's own key objects keep the curve inside the SEC1 structure, as openssl ecparam writes it
      w.writeObject(readKey(issued.key(), new BouncyCastleProvider()));
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Writes {@code issued}'s key as encrypted PKCS#8 ({@code BEGIN ENCRYPTED PRIVATE KEY}, AES-256-CBC). */
  public static Path writeEncryptedPkcs8Key(Issued issued, Path out, char[] password) {
    try (JcaPEMWriter w = new JcaPEMWriter(Files.newBufferedWriter(out, StandardCharsets.US_ASCII))) {
      w.writeObject(new JcaPKCS8Generator(readKey(issued.key(), null),
          new JceOpenSSLPKCS8EncryptorBuilder(JcaPKCS8Generator.AES_256_CBC).setProvider(new BouncyCastleProvider())
              .setPassword(password).build()));
      return out;
    } catch (IOException | OperatorCreationException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Copies {@code from}'s files over {@code to}'s, each replaced atomically (a reader sees the old file or the new
   * one, never half of one): a certificate rotation as an orchestrator does it.
   */
  public static void rotate(Issued from, Issued to) {
    replace(from.key(), to.key());
    replace(from.cert(), to.cert());
  }

  /** Replaces {@code target} by a copy of {@code source}, atomically. */
  public static void replace(Path source, Path target) {
    try {
      Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), ".rotate", ".tmp");
      Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private Issued issue(String fileName, String cn, String[] sans, boolean server, boolean expired, boolean rsa) {
    try {
      KeyPair keys = rsa ? rsa() : ec();
      Instant now = Instant.now();
      Date from = Date.from(expired ? now.minus(Duration.ofDays(30)) : now.minus(Duration.ofHours(1)));
      Date until = Date.from(expired ? now.minus(Duration.ofDays(1)) : now.plus(Duration.ofDays(3650)));
      X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(caName, BigInteger.valueOf(serial++), from, until,
          new X500Name("CN=" + cn), keys.getPublic());
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(Extension.keyUsage, true,
          new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment | KeyUsage.keyAgreement));
      b.addExtension(Extension.extendedKeyUsage, false, server
          ? new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth})
          : new ExtendedKeyUsage(KeyPurposeId.id_kp_clientAuth));
      b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(caCert));
      if (server) {
        List<GeneralName> names = new ArrayList<>();
        for (String san : sans.length == 0 ? new String[] {"localhost", "127.0.0.1"} : sans) {
          names.add(isIp(san) ? new GeneralName(GeneralName.iPAddress, san) : new GeneralName(GeneralName.dNSName, san));
        }
        b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)));
      }
      X509Certificate cert = new JcaX509CertificateConverter().getCertificate(b.build(signer(caKeys.getPrivate())));
      Path certFile = dir.resolve(fileName + ".pem");
      Path keyFile = dir.resolve(fileName + "-key.pem");
      writePem(certFile, cert);
      try (JcaPEMWriter w = new JcaPEMWriter(Files.newBufferedWriter(keyFile, StandardCharsets.US_ASCII))) {
        w.writeObject(new JcaPKCS8Generator(keys.getPrivate(), null));
      }
      return new Issued(certFile, keyFile);
    } catch (GeneralSecurityException | IOException | OperatorCreationException e) {
      throw new IllegalStateException("cannot issue a test certificate for " + cn + ": " + e, e);
    }
  }

  private ContentSigner signer(PrivateKey key) throws OperatorCreationException {
    return new JcaContentSignerBuilder("SHA256withECDSA").build(key);
  }

  private static KeyPair ec() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    return g.generateKeyPair();
  }

  private static KeyPair rsa() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
    g.initialize(2048);
    return g.generateKeyPair();
  }

  private static boolean isIp(String s) {
    if (s.indexOf(':') >= 0) {
      return true;
    }
    return s.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
  }

  private static void writePem(Path file, Object o) throws IOException {
    try (Writer out = Files.newBufferedWriter(file, StandardCharsets.US_ASCII); JcaPEMWriter w = new JcaPEMWriter(out)) {
      w.writeObject(o);
    }
  }

  private static PrivateKey readKey(Path file, java.security.Provider provider) throws IOException {
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.US_ASCII); PEMParser p = new PEMParser(r)) {
      Object o = p.readObject();
      if (!(o instanceof PrivateKeyInfo info)) {
        throw new IOException(file + " holds no PKCS#8 key");
      }
      JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
      return (provider == null ? converter : converter.setProvider(provider)).getPrivateKey(info);
    }
  }

  @Override
  public String toString() {
    return "TestPki[" + caName + " in " + dir + "]";
  }
}
