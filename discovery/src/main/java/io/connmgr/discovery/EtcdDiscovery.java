package io.connmgr.discovery;

import io.connmgr.discovery.internal.Backoff;
import io.connmgr.discovery.internal.Counters;
import io.connmgr.discovery.internal.EtcdLeases;
import io.connmgr.discovery.internal.EtcdSubscription;
import io.connmgr.discovery.internal.EtcdSupport;
import io.connmgr.discovery.internal.LeaderRead;
import io.connmgr.discovery.internal.PemFiles;
import io.connmgr.discovery.internal.RawKeyValue;
import io.connmgr.discovery.internal.SessionRegistration;
import io.connmgr.discovery.internal.RoleFilter;
import io.connmgr.discovery.internal.SessionTable;
import io.connmgr.discovery.internal.Threads;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.ClientBuilder;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.options.GetOption;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import javax.net.ssl.SSLException;

/**
 * Sessions in etcd, read and watched with no lost event, and registered under leases (jetcd 0.8.7 inside; no jetcd
 * type appears in this API).
 *
 * <p>Each subscription lists the prefix at revision R, then watches it from R+1 with previous values. Whatever ends
 * the watch (an error jetcd resumes by itself, a dead watcher after {@code onCompleted}, a compaction), it resumes
 * from the last applied revision + 1 with jittered exponential backoff, and after a compaction re-lists and emits the
 * difference. See {@link Discovery} for the delivery guarantee.
 *
 * <p><b>Threading.</b> Thread-safe; no method blocks. jetcd's callbacks only hand work to the subscription's serial
 * executor. One daemon thread per instance ({@code connmgr-etcd-discovery}) runs default event delivery, backoff
 * timers and registrations; {@link #close()} stops it.
 */
public final class EtcdDiscovery implements Discovery, Registry {

  private final KeyLayout layout;
  private final Client client;
  private final ScheduledExecutorService scheduler;
  private final Counters counters = new Counters();
  private final Backoff backoff;
  private final Set<EtcdSubscription> subscriptions = new CopyOnWriteArraySet<>();
  private volatile boolean closed;

  private EtcdDiscovery(Builder b) {
    this.layout = b.layout;
    this.backoff = new Backoff(b.initialBackoff, b.maxBackoff);
    this.scheduler = Threads.daemonScheduler("connmgr-etcd-discovery");
    ClientBuilder cb = Client.builder()
        .endpoints(b.endpoints.toArray(URI[]::new))
        .connectTimeout(b.connectTimeout)
        .waitForReady(false);
    if (b.tlsFiles != null) {
      try {
        cb.sslContext(ssl -> {
          if (b.tlsTrust != null) {
            ssl.trustManager(b.tlsTrust.toArray(X509Certificate[]::new));
          }
          if (b.tlsKey != null) {
            ssl.keyManager(b.tlsKey, b.tlsChain.toArray(X509Certificate[]::new));
          }
        });
      } catch (SSLException | RuntimeException e) {
        scheduler.shutdown();
        throw new IllegalArgumentException("tls: cannot use " + b.tlsFiles + ": " + e.getMessage(), e);
      }
    }
    if (b.user != null) {
      cb.user(ByteSequence.from(b.user, StandardCharsets.UTF_8)).password(ByteSequence.from(b.password));
    }
    this.client = cb.build();
  }

  /** A builder; {@link Builder#endpoints} is required. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * {@inheritDoc}
   *
   * <p>Two reads: a linearizable get of {@code <root><role>} (revision R), then a count of the named server's own
   * key {@code <root><role>-<id>} pinned to R, so both are seen at one revision; {@link Leader#revision()} is R. The
   * leader's session is the active key's value (its key is the active key; its lease, when the JSON has none, the
   * key's). If R is compacted between the two reads, the whole read starts again (at most 3 times). Completes on this
   * discovery's thread.
   */
  @Override
  public CompletableFuture<Leader> leader(String role) {
    Objects.requireNonNull(role, "role");
    return readLeader(role, 0);
  }

  private CompletableFuture<Leader> readLeader(String role, int attempt) {
    if (closed) {
      return CompletableFuture.failedFuture(closedException());
    }
    String activeKey = layout.activeKey(role);
    KV kv = client.getKVClient();
    return kv.get(EtcdSupport.bytes(activeKey)).handleAsync((resp, err) -> {
      if (err != null) {
        throw EtcdSupport.unavailable("reading " + activeKey, err);
      }
      long rev = resp.getHeader().getRevision();
      RawKeyValue active = resp.getKvs().isEmpty() ? null : EtcdSupport.raw(resp.getKvs().get(0));
      return Map.entry(rev, LeaderRead.activeSession(layout, role, active, rev));
    }, scheduler).thenCompose(read -> {
      long rev = read.getKey();
      Session s = read.getValue();
      String own = LeaderRead.ownKey(layout, s);
      GetOption atRev = GetOption.builder().withRevision(rev).withCountOnly(true).build();
      return kv.get(EtcdSupport.bytes(own), atRev).handleAsync((resp, err) -> {
        if (err != null) {
          Throwable cause = EtcdSupport.unwrap(err);
          if (EtcdSupport.isCompaction(cause) && attempt < 2) {
            return null; // read again at a newer revision
          }
          throw EtcdSupport.unavailable("reading " + own + " at revision " + rev, err);
        }
        return LeaderRead.leader(layout, s, rev, resp.getCount() > 0);
      }, scheduler).thenCompose(leader -> leader != null ? CompletableFuture.completedFuture(leader)
          : readLeader(role, attempt + 1));
    });
  }

  @Override
  public KeyLayout layout() {
    return layout;
  }

  @Override
  public DiscoveryStats stats() {
    return counters.snapshot();
  }

  @Override
  public CompletableFuture<SessionSnapshot> snapshot(String role) {
    if (closed) {
      return CompletableFuture.failedFuture(closedException());
    }
    return client.getKVClient().get(EtcdSupport.bytes(layout.root()), GetOption.builder().isPrefix(true).build())
        .handleAsync((resp, err) -> {
          if (err != null) {
            throw EtcdSupport.unavailable("listing " + layout.root(), err);
          }
          return SessionTable.snapshot(layout, role, EtcdSupport.listing(resp.getKvs()),
              resp.getHeader().getRevision(), counters);
        }, scheduler);
  }

  @Override
  public Subscription subscribeRoles(Set<String> roles, SessionListener listener, Executor executor) {
    Objects.requireNonNull(listener, "listener");
    if (closed) {
      throw closedException();
    }
    EtcdSubscription s = new EtcdSubscription(client, scheduler, layout, RoleFilter.of(roles), listener,
        executor != null ? executor : scheduler, counters, backoff, subscriptions::remove);
    subscriptions.add(s);
    s.start();
    return s;
  }

  @Override
  public CompletableFuture<Long> allocateServerId() {
    if (closed) {
      return CompletableFuture.failedFuture(closedException());
    }
    return EtcdLeases.allocateServerId(client, layout.counterKeyPath(), scheduler);
  }

  @Override
  public CompletableFuture<Registration> register(Session session, Duration ttl, RegistrationListener listener) {
    Objects.requireNonNull(session, "session");
    Objects.requireNonNull(listener, "listener");
    if (ttl.compareTo(Duration.ofSeconds(1)) < 0) {
      throw new IllegalArgumentException("ttl: must be at least 1s, was " + ttl);
    }
    if (closed) {
      return CompletableFuture.failedFuture(closedException());
    }
    return SessionRegistration.register(new EtcdLeases(client, scheduler), layout, session, ttl.toSeconds(),
        listener, backoff);
  }

  /**
   * Closes every subscription, the etcd client and the thread. Registrations made here are not revoked: close them
   * first to step down cleanly, otherwise their keys go when their leases expire. Idempotent; does not block.
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    subscriptions.forEach(Subscription::close);
    scheduler.execute(() -> {
      client.close();
      scheduler.shutdown();
    });
  }

  private static DiscoveryException closedException() {
    return new DiscoveryException(DiscoveryException.Code.CLOSED, "etcd discovery is closed");
  }

  /** Builds an {@link EtcdDiscovery}; not thread-safe. Each setter checks its argument and names it on error. */
  public static final class Builder {
    private final List<URI> endpoints = new ArrayList<>();
    private KeyLayout layout = KeyLayout.MILVUS;
    private Duration initialBackoff = Duration.ofMillis(100);
    private Duration maxBackoff = Duration.ofSeconds(5);
    private Duration connectTimeout = Duration.ofSeconds(3);
    private List<X509Certificate> tlsTrust;
    private List<X509Certificate> tlsChain;
    private PrivateKey tlsKey;
    private String tlsFiles;
    private String user;
    private byte[] password;

    private Builder() {}

    /**
     * TLS to etcd ({@code https://} endpoints): the CA certificate(s) that signed etcd's, and optionally a client
     * certificate and its private key for etcd's {@code --client-cert-auth}. PEM files; keys as unencrypted PKCS#8
     * ({@code BEGIN PRIVATE KEY}, what openssl 3 writes), PKCS#1 RSA ({@code BEGIN RSA PRIVATE KEY}) or SEC1 EC
     * ({@code BEGIN EC PRIVATE KEY}, what cfssl writes). The files are read here, once: a changed file takes effect
     * in a new discovery. With client-certificate authentication and etcd's authentication enabled, etcd takes the
     * certificate's CN as the user when no {@link #auth user} is given.
     *
     * @param caFile   required
     * @param certFile may be {@code null}; then {@code keyFile} must be too
     * @param keyFile  may be {@code null}; then {@code certFile} must be too
     * @throws IllegalArgumentException naming {@code tls.ca}, {@code tls.cert} or {@code tls.key} and the file, if a
     *     file cannot be read, is not a certificate or a key in a format read here, the certificate has expired or is
     *     not yet valid, the key does not belong to the certificate, or only one of the certificate and the key is given
     */
    public Builder tls(Path caFile, Path certFile, Path keyFile) {
      Objects.requireNonNull(caFile, "tls.ca");
      if ((certFile == null) != (keyFile == null)) {
        throw new IllegalArgumentException(certFile == null ? "tls.cert: required with tls.key"
            : "tls.key: required with tls.cert");
      }
      List<X509Certificate> trust = PemFiles.certificates("tls.ca", caFile);
      List<X509Certificate> chain = null;
      PrivateKey key = null;
      if (certFile != null) {
        chain = PemFiles.identityChain("tls.cert", certFile, Instant.now());
        key = PemFiles.privateKey("tls.key", keyFile);
        PemFiles.checkPair("tls.key", keyFile, key, certFile, chain.get(0));
      }
      this.tlsTrust = trust;
      this.tlsChain = chain;
      this.tlsKey = key;
      this.tlsFiles = caFile + (certFile != null ? ", " + certFile + ", " + keyFile : "");
      return this;
    }

    /**
     * etcd authentication as {@code user} with {@code password} (etcd's {@code auth enable}). The password is copied
     * (clear your array afterwards if you like) and never appears in a log line, an exception message or a
     * {@code toString()}.
     *
     * @throws IllegalArgumentException naming {@code user} or {@code password} if one is empty
     */
    public Builder auth(String user, char[] password) {
      Objects.requireNonNull(user, "user");
      Objects.requireNonNull(password, "password");
      if (user.isEmpty()) {
        throw new IllegalArgumentException("user: must not be empty");
      }
      if (password.length == 0) {
        throw new IllegalArgumentException("password: must not be empty (user " + user + ")");
      }
      java.nio.ByteBuffer bytes = StandardCharsets.UTF_8.encode(java.nio.CharBuffer.wrap(password));
      byte[] copy = new byte[bytes.remaining()];
      bytes.get(copy);
      this.user = user;
      this.password = copy;
      return this;
    }

    /**
     * {@link #auth(String, char[])} with the password read from a file (its first line; a trailing newline is not
     * part of it).
     *
     * @throws IllegalArgumentException naming {@code password-file} and the file if it cannot be read or its first
     *     line is empty
     */
    public Builder auth(String user, Path passwordFile) {
      return auth(user, readPasswordFile(passwordFile));
    }

    /**
     * The first line of a password file, for {@link #auth(String, char[])}.
     *
     * @throws IllegalArgumentException naming {@code password-file} and the file if it cannot be read or its first
     *     line is empty
     */
    public static char[] readPasswordFile(Path passwordFile) {
      Objects.requireNonNull(passwordFile, "password-file");
      String text;
      try {
        text = Files.readString(passwordFile, StandardCharsets.UTF_8);
      } catch (java.nio.file.NoSuchFileException e) {
        throw new IllegalArgumentException("password-file: cannot read " + passwordFile + " (no such file)", e);
      } catch (java.nio.file.AccessDeniedException e) {
        throw new IllegalArgumentException("password-file: cannot read " + passwordFile + " (permission denied)", e);
      } catch (java.io.IOException | RuntimeException e) {
        throw new IllegalArgumentException("password-file: cannot read " + passwordFile + " ("
            + e.getClass().getSimpleName() + ")", e);
      }
      int end = 0;
      while (end < text.length() && text.charAt(end) != '\n' && text.charAt(end) != '\r') {
        end++;
      }
      if (end == 0) {
        throw new IllegalArgumentException("password-file: " + passwordFile + " is empty");
      }
      return text.substring(0, end).toCharArray();
    }

    /**
     * The etcd client URLs, for example {@code http://127.0.0.1:2379}; several may be given, comma-separated or as
     * separate arguments.
     *
     * @throws IllegalArgumentException naming {@code endpoints} if one is not an {@code http(s)://host:port} URL
     */
    public Builder endpoints(String... urls) {
      Objects.requireNonNull(urls, "endpoints");
      for (String u : urls) {
        for (String part : Objects.requireNonNull(u, "endpoints").split(",")) {
          endpoints.add(parseEndpoint(part.trim()));
        }
      }
      return this;
    }

    /** {@link #endpoints(String...)} from a list. */
    public Builder endpoints(List<String> urls) {
      return endpoints(urls.toArray(String[]::new));
    }

    /** The key layout; Milvus' by default. */
    public Builder layout(KeyLayout value) {
      this.layout = Objects.requireNonNull(value, "layout");
      return this;
    }

    /**
     * The session prefix; {@code by-dev/meta/session/} by default.
     *
     * @throws IllegalArgumentException naming {@code root} if it is empty or does not end with {@code /}
     */
    public Builder root(String value) {
      this.layout = KeyLayout.withRoot(Objects.requireNonNull(value, "root"));
      return this;
    }

    /**
     * Backoff between attempts to re-establish a watch or re-list: exponential from {@code initial} (100 ms by
     * default) up to {@code max} (5 s), each delay jittered between half and all of it.
     */
    public Builder retryBackoff(Duration initial, Duration max) {
      Objects.requireNonNull(initial, "retryBackoff.initial");
      Objects.requireNonNull(max, "retryBackoff.max");
      if (initial.isNegative() || initial.isZero()) {
        throw new IllegalArgumentException("retryBackoff.initial: must be positive, was " + initial);
      }
      if (max.compareTo(initial) < 0) {
        throw new IllegalArgumentException("retryBackoff.max: must be at least initial " + initial + ", was " + max);
      }
      this.initialBackoff = initial;
      this.maxBackoff = max;
      return this;
    }

    /** How long a connection attempt to etcd may take; 3 s by default. */
    public Builder connectTimeout(Duration value) {
      Objects.requireNonNull(value, "connectTimeout");
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException("connectTimeout: must be positive, was " + value);
      }
      this.connectTimeout = value;
      return this;
    }

    /**
     * The discovery. Connects lazily: building never waits for etcd.
     *
     * @throws IllegalArgumentException naming {@code endpoints} if none was given, or if TLS is configured and an
     *     endpoint is not {@code https://}; naming {@code tls} if the TLS files are not a usable CA, certificate and
     *     key
     */
    public EtcdDiscovery build() {
      if (endpoints.isEmpty()) {
        throw new IllegalArgumentException("endpoints: at least one etcd URL is required, e.g. http://127.0.0.1:2379");
      }
      if (tlsTrust != null && endpoints.stream().anyMatch(u -> !u.getScheme().equals("https"))) {
        throw new IllegalArgumentException("endpoints: TLS is configured (tls.ca) but not every endpoint is https://");
      }
      if (tlsTrust == null && endpoints.stream().anyMatch(u -> u.getScheme().equals("https"))) {
        if (endpoints.stream().anyMatch(u -> !u.getScheme().equals("https"))) {
          throw new IllegalArgumentException("endpoints: mixes http:// and https:// URLs");
        }
        tlsFiles = "the JDK's trusted CAs";
      }
      return new EtcdDiscovery(this);
    }

    private static URI parseEndpoint(String url) {
      String problem = null;
      URI uri = null;
      try {
        uri = new URI(url);
        if (uri.getScheme() == null || !(uri.getScheme().equals("http") || uri.getScheme().equals("https"))) {
          problem = "scheme must be http or https";
        } else if (uri.getHost() == null || uri.getHost().isEmpty()) {
          problem = "no host";
        } else if (uri.getPort() < 1 || uri.getPort() > 65535) {
          problem = "no port in 1..65535";
        } else if (uri.getPath() != null && !uri.getPath().isEmpty() && !uri.getPath().equals("/")) {
          problem = "unexpected path " + uri.getPath();
        }
      } catch (URISyntaxException e) {
        problem = e.getReason();
      }
      if (problem != null) {
        throw new IllegalArgumentException("endpoints: '" + url + "' is not an etcd URL like http://127.0.0.1:2379 ("
            + problem + ")");
      }
      return uri;
    }
  }
}
