package io.connmgr.discovery.internal;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads certificates and private keys from PEM files with errors a user can act on: each message names the option
 * ({@code field}), the file and what is wrong with it, on one line. Used for TLS to etcd and to the servers.
 *
 * <p>Keys are read as unencrypted PKCS#8 ({@code BEGIN PRIVATE KEY}, what openssl 3 writes by default), PKCS#1 RSA
 * ({@code BEGIN RSA PRIVATE KEY}) and SEC1 EC ({@code BEGIN EC PRIVATE KEY}, what cfssl and {@code openssl ecparam}
 * write); encrypted keys are refused with the command that decrypts them.
 *
 * <p>Stateless and thread-safe. Every method reads the file system: call them at build time or off event loops.
 */
public final class PemFiles {

  private static final Pattern BLOCK = Pattern.compile(
      "-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \\1-----", Pattern.DOTALL);
  private static final byte[] RSA_ALGORITHM = {
      0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
  private static final byte[] EC_PUBLIC_KEY_OID = {
      0x06, 0x07, 0x2a, (byte) 0x86, 0x48, (byte) 0xce, 0x3d, 0x02, 0x01};

  private PemFiles() {}

  /**
   * The X.509 certificates of a PEM file, in file order.
   *
   * @throws IllegalArgumentException {@code "<field>: <file> ..."} if the file cannot be read, holds no certificate
   *     or a certificate that does not parse
   */
  public static List<X509Certificate> certificates(String field, Path file) {
    String text = read(field, file);
    List<X509Certificate> out = new ArrayList<>();
    List<String> found = new ArrayList<>();
    Matcher m = BLOCK.matcher(text);
    while (m.find()) {
      found.add(m.group(1));
      if (!m.group(1).equals("CERTIFICATE")) {
        continue;
      }
      try {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        out.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(decode(field, file, m.group(2)))));
      } catch (CertificateException e) {
        throw new IllegalArgumentException(field + ": " + file + " holds a certificate that does not parse ("
            + e.getMessage() + ")", e);
      }
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException(field + ": " + file + (found.isEmpty()
          ? " is not a PEM file (no -----BEGIN CERTIFICATE----- block)"
          : " holds no certificate, only " + String.join(", ", found)));
    }
    return out;
  }

  /**
   * {@link #certificates} for a certificate this side presents (or trusts) now: also refuses one that is expired or
   * not yet valid at {@code now}, naming its subject and date.
   */
  public static List<X509Certificate> identityChain(String field, Path file, Instant now) {
    List<X509Certificate> chain = certificates(field, file);
    X509Certificate first = chain.get(0);
    try {
      first.checkValidity(Date.from(now));
    } catch (CertificateExpiredException e) {
      throw new IllegalArgumentException(field + ": the certificate in " + file + " (" + first.getSubjectX500Principal()
          + ") expired on " + first.getNotAfter().toInstant(), e);
    } catch (CertificateNotYetValidException e) {
      throw new IllegalArgumentException(field + ": the certificate in " + file + " (" + first.getSubjectX500Principal()
          + ") is not valid before " + first.getNotBefore().toInstant(), e);
    }
    return chain;
  }

  /**
   * A private key from a PEM file: unencrypted PKCS#8, PKCS#1 RSA or SEC1 EC.
   *
   * @throws IllegalArgumentException naming the field, the file, the format found and how to convert it, for an
   *     encrypted key, a file without a key or a key that does not parse
   */
  public static PrivateKey privateKey(String field, Path file) {
    String text = read(field, file);
    Matcher m = BLOCK.matcher(text);
    List<String> found = new ArrayList<>();
    while (m.find()) {
      String type = m.group(1);
      found.add(type);
      String body = m.group(2);
      switch (type) {
        case "PRIVATE KEY":
          return pkcs8(field, file, decode(field, file, body), "PKCS#8");
        case "RSA PRIVATE KEY":
          refuseLegacyEncryption(field, file, body);
          byte[] pkcs1 = decode(field, file, body);
          return pkcs8(field, file, der(0x30, concat(new byte[] {0x02, 0x01, 0x00}, RSA_ALGORITHM,
              der(0x04, pkcs1))), "PKCS#1 RSA");
        case "EC PRIVATE KEY":
          refuseLegacyEncryption(field, file, body);
          return pkcs8(field, file, sec1ToPkcs8(field, file, decode(field, file, body)), "SEC1 EC");
        case "ENCRYPTED PRIVATE KEY":
          throw new IllegalArgumentException(field + ": " + file + " holds an encrypted PKCS#8 key; connmgr reads "
              + "unencrypted keys: decrypt it with 'openssl pkcs8 -in " + file + " -out key.pem' and keep that file "
              + "readable only by this user");
        default:
          break;
      }
    }
    throw new IllegalArgumentException(field + ": " + file + (found.isEmpty()
        ? " is not a PEM file (no -----BEGIN PRIVATE KEY----- block)"
        : " holds no private key, only " + String.join(", ", found))
        + "; expected a PKCS#8 key (openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem converts one)");
  }

  /**
   * Checks that {@code key} belongs to {@code cert}, by signing a random challenge and verifying it with the
   * certificate's public key.
   *
   * @throws IllegalArgumentException {@code "<keyField>: <keyFile> does not belong to the certificate in <certFile>"}
   */
  public static void checkPair(String keyField, Path keyFile, PrivateKey key, Path certFile, X509Certificate cert) {
    String alg = switch (key.getAlgorithm()) {
      case "RSA" -> "SHA256withRSA";
      case "EC" -> "SHA256withECDSA";
      case "Ed25519", "EdDSA" -> "Ed25519";
      case "Ed448" -> "Ed448";
      case "DSA" -> "SHA256withDSA";
      default -> null;
    };
    if (alg == null) {
      return; // a key type we cannot check here; the handshake will
    }
    boolean ok;
    try {
      byte[] challenge = new byte[32];
      new SecureRandom().nextBytes(challenge);
      Signature signer = Signature.getInstance(alg);
      signer.initSign(key);
      signer.update(challenge);
      byte[] sig = signer.sign();
      Signature verifier = Signature.getInstance(alg);
      verifier.initVerify(cert.getPublicKey());
      verifier.update(challenge);
      ok = verifier.verify(sig);
    } catch (GeneralSecurityException e) {
      ok = false;
    }
    if (!ok) {
      throw new IllegalArgumentException(keyField + ": " + keyFile + " does not belong to the certificate in "
          + certFile + " (" + cert.getSubjectX500Principal() + ")");
    }
  }

  /**
   * One line explaining a TLS handshake failure found in {@code t} or its causes (an unknown CA, an expired
   * certificate, a host name mismatch, a client certificate refused or missing), or {@code null} when {@code t} is
   * not about TLS.
   */
  public static String describeHandshakeFailure(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      String m = String.valueOf(c.getMessage());
      String lower = m.toLowerCase(Locale.ROOT);
      if (c instanceof CertificateExpiredException || lower.contains("validity check failed")
          || lower.contains("certificate expired") && !lower.contains("alert")) {
        return "TLS: the server's certificate has expired or is not yet valid (" + m + ")";
      }
      if (lower.contains("pkix path building failed") || lower.contains("unable to find valid certification path")
          || lower.contains("signature check failed")) {
        return "TLS: the server's certificate is not signed by a trusted CA (check the CA file): " + m;
      }
      if (lower.contains("no subject alternative") || lower.contains("no name matching")) {
        return "TLS: the server's certificate does not match the name verified: " + m;
      }
      if (lower.contains("certificate_required") || lower.contains("bad_certificate")) {
        return "TLS: the server requires a client certificate it accepts (none was sent, or it was refused): " + m;
      }
      if (lower.contains("certificate_expired")) {
        return "TLS: the server refused our client certificate as expired: " + m;
      }
      if (lower.contains("unknown_ca")) {
        return "TLS: the server does not trust the CA of our client certificate: " + m;
      }
      if (lower.contains("not an ssl/tls record") || lower.contains("unsupported or unrecognized ssl message")) {
        return "TLS: the server does not speak TLS on this port (plaintext?): " + m;
      }
      if (c instanceof javax.net.ssl.SSLException) {
        return "TLS: " + m;
      }
    }
    return null;
  }

  private static String read(String field, Path file) {
    if (file == null) {
      throw new IllegalArgumentException(field + ": no file given");
    }
    if (Files.isDirectory(file)) {
      throw new IllegalArgumentException(field + ": cannot read " + file + " (a directory)");
    }
    try {
      return Files.readString(file, StandardCharsets.US_ASCII);
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException(field + ": cannot read " + file + " (no such file)", e);
    } catch (AccessDeniedException e) {
      throw new IllegalArgumentException(field + ": cannot read " + file + " (permission denied)", e);
    } catch (IOException | RuntimeException e) {
      throw new IllegalArgumentException(field + ": cannot read " + file + " (" + e + ")", e);
    }
  }

  private static byte[] decode(String field, Path file, String body) {
    StringBuilder b64 = new StringBuilder(body.length());
    for (String line : body.split("\\R")) {
      if (!line.contains(":")) { // skip RFC 1421 headers (Proc-Type, DEK-Info)
        b64.append(line.trim());
      }
    }
    try {
      return Base64.getDecoder().decode(b64.toString());
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(field + ": " + file + " has a PEM block that is not base64 ("
          + e.getMessage() + ")", e);
    }
  }

  private static void refuseLegacyEncryption(String field, Path file, String body) {
    if (body.contains("Proc-Type: 4,ENCRYPTED")) {
      throw new IllegalArgumentException(field + ": " + file + " holds an encrypted key; connmgr reads unencrypted "
          + "keys: decrypt it with 'openssl pkey -in " + file + " -out key.pem'");
    }
  }

  private static PrivateKey pkcs8(String field, Path file, byte[] der, String format) {
    PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
    for (String alg : new String[] {"RSA", "EC", "Ed25519", "Ed448", "DSA"}) {
      try {
        return KeyFactory.getInstance(alg).generatePrivate(spec);
      } catch (GeneralSecurityException | RuntimeException e) {
        // try the next algorithm
      }
    }
    throw new IllegalArgumentException(field + ": " + file + " holds a " + format + " private key that does not "
        + "parse as RSA, EC, Ed25519 or DSA");
  }

  /** Wraps a SEC1 {@code ECPrivateKey} (RFC 5915) in PKCS#8, taking the curve from its parameters. */
  private static byte[] sec1ToPkcs8(String field, Path file, byte[] sec1) {
    byte[] curve = null;
    try {
      int[] seq = header(sec1, 0, 0x30);
      int p = seq[0];
      int end = seq[0] + seq[1];
      while (p < end) {
        int tag = sec1[p] & 0xff;
        int[] h = header(sec1, p, tag);
        if (tag == 0xa0) { // [0] parameters: the curve's OID
          curve = java.util.Arrays.copyOfRange(sec1, h[0], h[0] + h[1]);
        }
        p = h[0] + h[1];
      }
    } catch (RuntimeException e) {
      curve = null;
    }
    if (curve == null) {
      throw new IllegalArgumentException(field + ": " + file + " holds an EC key without its curve; convert it with "
          + "'openssl pkcs8 -topk8 -nocrypt -in " + file + " -out key.pem'");
    }
    return der(0x30, concat(new byte[] {0x02, 0x01, 0x00}, der(0x30, concat(EC_PUBLIC_KEY_OID, curve)),
        der(0x04, sec1)));
  }

  /** {content offset, content length} of the DER element at {@code p}, which must have tag {@code tag}. */
  private static int[] header(byte[] d, int p, int tag) {
    if ((d[p] & 0xff) != tag) {
      throw new IllegalStateException("tag");
    }
    int len = d[p + 1] & 0xff;
    int off = p + 2;
    if (len > 0x80) {
      int n = len - 0x80;
      len = 0;
      for (int i = 0; i < n; i++) {
        len = (len << 8) | (d[off + i] & 0xff);
      }
      off += n;
    }
    return new int[] {off, len};
  }

  private static byte[] der(int tag, byte[] content) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(content.length + 6);
    out.write(tag);
    int n = content.length;
    if (n < 0x80) {
      out.write(n);
    } else if (n < 0x100) {
      out.write(0x81);
      out.write(n);
    } else if (n < 0x10000) {
      out.write(0x82);
      out.write(n >> 8);
      out.write(n);
    } else {
      out.write(0x83);
      out.write(n >> 16);
      out.write(n >> 8);
      out.write(n);
    }
    out.writeBytes(content);
    return out.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }
}
