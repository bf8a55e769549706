package io.connmgr.connection;

import io.connmgr.discovery.HostAndPort;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.internal.PemFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * TLS, or mutual TLS, to the servers of a role: the CA that signs their certificates, optionally this client's
 * certificate and key, and the name each server's certificate must match. Given to
 * {@link ConnectionOptions.Builder#tls(ServerTls)} (every role) or {@link ConnectionOptions.Builder#tls(String,
 * ServerTls)} (one role).
 *
 * <pre>{@code
 * ServerTls tls = ServerTls.builder()
 *     .ca(Path.of("/etc/milvus/tls/ca.pem"))
 *     .identity(Path.of("/etc/milvus/tls/client.pem"), Path.of("/etc/milvus/tls/client.key"))   // mutual TLS
 *     .build();                                        // reads and checks the files now
 * }</pre>
 *
 * <p><b>The name verified.</b> With {@link Builder#serverName(String)}, every server of the role must present a
 * certificate for that name. Otherwise each server's certificate must match its session's {@code HostName} when the
 * session has one, else the host of its address (an IP address then needs an IP subject alternative name). The name is
 * the channel's authority, so grpc-java's standard host name check applies (it is never turned off) and the
 * {@code :authority} header carries it.
 *
 * <p><b>Rotation.</b> The files are read at {@link Builder#build()} and then checked for change every
 * {@link #refreshInterval()} (1 s by default) by each manager that uses them, on its timer thread (never a caller's
 * thread or a gRPC event loop); changed files are read again and, once they form valid material (certificates that
 * parse, a client certificate that is valid now and a key that belongs to it), used for every new connection without a
 * restart; open connections keep the material they were made with. Files that do not (one rewritten half-way, a key
 * not yet replaced to match a new certificate) are read again when they change, and if they stay invalid for one more
 * interval, one WARN says what is wrong and the previous material stays in use. Write the certificate before the key,
 * or better, each file to a temporary name and rename it.
 *
 * <p>Keys: unencrypted PKCS#8 ({@code BEGIN PRIVATE KEY}) and the formats {@link PemFiles} reads; an encrypted key is
 * refused with the command that converts it.
 *
 * <p>Immutable and thread-safe; made by {@link #builder()}. {@code build()} reads the file system; nothing else here
 * does.
 */
public final class ServerTls {

  /** How often the files are checked for change unless {@link Builder#refreshInterval} says otherwise: 1 s. */
  public static final Duration DEFAULT_REFRESH_INTERVAL = Duration.ofSeconds(1);

  private final Path ca;
  private final Path cert;
  private final Path key;
  private final String serverName;
  private final Duration refreshInterval;
  /** The material read at build time: the first one each manager uses. */
  final Material initial;
  /** The files' stamps taken just before {@link #initial} was read. */
  final List<Stamp> initialStamps;

  /** Certificates and key read together from the files. */
  record Material(List<X509Certificate> trust, List<X509Certificate> chain, PrivateKey key) {}

  /** What identifies a file's content without reading it: modified time, size and file key (inode). */
  record Stamp(Path file, long modifiedNanos, long size, Object fileKey) {}

  private ServerTls(Builder b, Material initial, List<Stamp> initialStamps) {
    this.ca = b.ca;
    this.cert = b.cert;
    this.key = b.key;
    this.serverName = b.serverName;
    this.refreshInterval = b.refreshInterval;
    this.initial = initial;
    this.initialStamps = initialStamps;
  }

  /** A builder; {@link Builder#ca} is required. */
  public static Builder builder() {
    return new Builder();
  }

  /** The PEM file of the CA certificate(s) the servers' certificates must chain to. */
  public Path ca() {
    return ca;
  }

  /** This client's certificate chain (PEM), or {@code null} without mutual TLS. */
  public Path cert() {
    return cert;
  }

  /** This client's private key (PEM), or {@code null} without mutual TLS. */
  public Path key() {
    return key;
  }

  /** The name every server's certificate must match, or {@code null}: the session's host name, else its host. */
  public String serverName() {
    return serverName;
  }

  /** How often the files are checked for change. */
  public Duration refreshInterval() {
    return refreshInterval;
  }

  /** The name {@code session}'s server certificate is verified against. */
  String nameFor(Session session) {
    if (serverName != null) {
      return serverName;
    }
    if (session != null && !session.hostName().isBlank()) {
      return session.hostName().trim();
    }
    return session == null ? null : session.host();
  }

  /** The channel authority that makes grpc-java verify {@link #nameFor} on {@code session}'s server at {@code port}. */
  String authorityFor(Session session, int port) {
    return new HostAndPort(nameFor(session), port).toString();
  }

  /**
   * Reads the files now: trust, and the identity when configured, checked as at build time.
   *
   * @throws IllegalArgumentException naming the field and file, as {@link Builder#build()}
   */
  Material load(Instant now) {
    List<X509Certificate> trust = PemFiles.certificates("tls.ca", ca);
    if (cert == null) {
      return new Material(trust, null, null);
    }
    List<X509Certificate> chain = PemFiles.identityChain("tls.cert", cert, now);
    PrivateKey pk = PemFiles.privateKey("tls.key", key);
    PemFiles.checkPair("tls.key", key, pk, cert, chain.get(0));
    return new Material(trust, chain, pk);
  }

  /** The stamps of the files now; a file that cannot be read has a stamp saying so. Reads the file system. */
  List<Stamp> stamps() {
    List<Stamp> out = new ArrayList<>(3);
    for (Path p : new Path[] {ca, cert, key}) {
      if (p == null) {
        continue;
      }
      try {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class); // follows links (k8s secrets)
        out.add(new Stamp(p, a.lastModifiedTime().to(TimeUnit.NANOSECONDS), a.size(), a.fileKey()));
      } catch (IOException | RuntimeException e) {
        out.add(new Stamp(p, -1, -1, e.getClass().getName()));
      }
    }
    return List.copyOf(out);
  }

  @Override
  public String toString() {
    return "ServerTls{ca=" + ca + (cert == null ? "" : ", cert=" + cert + ", key=" + key)
        + (serverName == null ? "" : ", serverName=" + serverName) + ", refreshInterval=" + refreshInterval + "}";
  }

  /** Builds {@link ServerTls}; not thread-safe. Setters check their argument; {@link #build()} reads the files. */
  public static final class Builder {
    private Path ca;
    private Path cert;
    private Path key;
    private String serverName;
    private Duration refreshInterval = DEFAULT_REFRESH_INTERVAL;

    private Builder() {}

    /** The PEM file of the CA certificate(s) that sign the servers' certificates. Required. */
    public Builder ca(Path file) {
      this.ca = Objects.requireNonNull(file, "tls.ca");
      return this;
    }

    /**
     * This client's certificate chain and private key (PEM files), presented to servers that ask for one (mutual
     * TLS). Optional.
     */
    public Builder identity(Path certFile, Path keyFile) {
      this.cert = Objects.requireNonNull(certFile, "tls.cert");
      this.key = Objects.requireNonNull(keyFile, "tls.key");
      return this;
    }

    /**
     * The name every server's certificate must match (a DNS name, or an IP address for an IP subject alternative
     * name). By default: each session's {@code HostName}, else the host of its address.
     *
     * @throws IllegalArgumentException ({@code tls.serverName: ...}) if it is not a host name or an IP address
     */
    public Builder serverName(String name) {
      Objects.requireNonNull(name, "tls.serverName");
      String n = name.trim();
      if (n.isEmpty() || n.length() > 253 || !n.matches("[A-Za-z0-9._:\\-\\[\\]]+") || n.startsWith(".")) {
        throw new IllegalArgumentException("tls.serverName: '" + name + "' is not a host name or an IP address");
      }
      if (n.startsWith("[") && n.endsWith("]")) {
        n = n.substring(1, n.length() - 1);
      }
      this.serverName = n;
      return this;
    }

    /** How often the files are checked for change; 1 s by default. */
    public Builder refreshInterval(Duration value) {
      Objects.requireNonNull(value, "tls.refreshInterval");
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException("tls.refreshInterval: must be positive, was " + value);
      }
      this.refreshInterval = value;
      return this;
    }

    /**
     * Reads and checks the files: the CA file must hold PEM certificates; the client certificate must parse and be
     * valid now, and the key must be one we read and belong to it.
     *
     * @throws IllegalArgumentException one line naming the field ({@code tls.ca}, {@code tls.cert}, {@code tls.key}),
     *     the file and what is wrong: missing or unreadable, not a certificate, expired or not yet valid, a key format
     *     we do not read (and how to convert it), a key that does not belong to the certificate
     */
    public ServerTls build() {
      if (ca == null) {
        throw new IllegalArgumentException("tls.ca: required (the PEM file of the CA that signs the servers' "
            + "certificates)");
      }
      ServerTls t = new ServerTls(this, null, null);
      List<Stamp> stamps = t.stamps(); // before reading: a change while we read is seen by the first check
      return new ServerTls(this, t.load(Instant.now()), stamps);
    }
  }
}
