package io.connmgr.connection;

import io.grpc.ChannelCredentials;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live TLS material of one {@link ServerTls} for one manager: a trust manager and (with mutual TLS) a key manager
 * that delegate to the material read last, and the {@link ChannelCredentials} made of them once, so every channel
 * built later uses whatever is current when it handshakes. The files are checked for change every
 * {@link ServerTls#refreshInterval()} by a one-shot timer re-armed after each run (so a fake scheduler drives it too);
 * material that does not load keeps the previous one (see {@link ServerTls} for when it warns).
 *
 * <p><b>Threading.</b> {@link #check} runs on the timer thread only, one run at a time; the managers' delegates are
 * volatile and read by whichever thread handshakes (a Netty event loop: a volatile read, no I/O). {@link #start} and
 * {@link #close} on any thread.
 */
final class TlsReloader implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(TlsReloader.class);

  private final ServerTls config;
  /** Which roles use it, for logs: {@code "every role"} or {@code "role querynode"}. */
  private final String usedBy;
  private final ReloadingTrustManager trust = new ReloadingTrustManager();
  private final ReloadingKeyManager keys;
  private final ChannelCredentials credentials;
  private final AtomicLong generation = new AtomicLong();

  // timer thread only (one run at a time)
  private List<ServerTls.Stamp> loaded;
  private List<ServerTls.Stamp> failed;
  private String failure;
  private boolean warned;

  private volatile ScheduledExecutorService timers;
  private volatile Future<?> next;
  private volatile boolean closed;

  TlsReloader(ServerTls config, String usedBy) {
    this.config = config;
    this.usedBy = usedBy;
    this.keys = config.cert() == null ? null : new ReloadingKeyManager();
    this.loaded = config.initialStamps; // what build() read: no file system access here (a caller's thread)
    install(config.initial);
    TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder().trustManager(trust);
    if (keys != null) {
      b.keyManager(keys);
    }
    this.credentials = b.build();
  }

  ServerTls config() {
    return config;
  }

  ChannelCredentials credentials() {
    return credentials;
  }

  /** Starts checking the files on {@code scheduler}. */
  void start(ScheduledExecutorService scheduler) {
    this.timers = scheduler;
    arm();
  }

  @Override
  public void close() {
    closed = true;
    Future<?> f = next;
    if (f != null) {
      f.cancel(false);
    }
  }

  private void arm() {
    if (closed) {
      return;
    }
    try {
      next = timers.schedule(this::check, config.refreshInterval().toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      // the manager is closing: its timers no longer take tasks
    }
    if (closed) {
      Future<?> f = next;
      if (f != null) {
        f.cancel(false);
      }
    }
  }

  /** One check: reload the files if they changed since they were last loaded. Timer thread. */
  void check() {
    if (closed) {
      return;
    }
    try {
      List<ServerTls.Stamp> now = config.stamps();
      if (now.equals(loaded)) {
        failed = null;
        return;
      }
      if (now.equals(failed)) {
        // unchanged for one interval and still invalid: not a file caught half-written; say so once
        if (!warned) {
          warned = true;
          log.warn("TLS files of {} not reloaded, the previous certificates stay in use: {}", usedBy, failure);
        }
        return;
      }
      ServerTls.Material m;
      try {
        m = config.load(Instant.now());
      } catch (IllegalArgumentException e) {
        failed = now;
        failure = e.getMessage();
        warned = false;
        log.debug("TLS files of {} changed but do not load (yet): {}", usedBy, failure);
        return;
      }
      install(m);
      loaded = now;
      failed = null;
      log.info("TLS files of {} reloaded: {}", usedBy, describe(m));
    } catch (RuntimeException e) {
      log.warn("TLS files of {}: check failed: {}", usedBy, e.toString());
    } finally {
      arm();
    }
  }

  private static String describe(ServerTls.Material m) {
    StringBuilder b = new StringBuilder("trusting ");
    for (int i = 0; i < m.trust().size(); i++) {
      b.append(i == 0 ? "" : ", ").append(m.trust().get(i).getSubjectX500Principal().getName());
    }
    if (m.chain() != null) {
      X509Certificate c = m.chain().get(0);
      b.append("; presenting ").append(c.getSubjectX500Principal().getName()).append(" valid until ")
          .append(c.getNotAfter().toInstant());
    }
    return b.toString();
  }

  /** Makes {@code m} current. */
  private void install(ServerTls.Material m) {
    try {
      long gen = generation.incrementAndGet();
      KeyStore ts = KeyStore.getInstance(KeyStore.getDefaultType());
      ts.load(null, null);
      int i = 0;
      for (X509Certificate c : m.trust()) {
        ts.setCertificateEntry("ca-" + i++, c);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(ts);
      trust.current = only(tmf.getTrustManagers(), X509ExtendedTrustManager.class);
      if (keys != null) {
        String alias = "connmgr-" + gen;
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        char[] password = "connmgr".toCharArray(); // an in-memory store: the password protects nothing
        ks.setKeyEntry(alias, m.key(), password, m.chain().toArray(new X509Certificate[0]));
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, password);
        keys.install(new Generation(alias, only(kmf.getKeyManagers(), X509ExtendedKeyManager.class)));
      }
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalArgumentException("tls: the JDK does not take the certificates or key: " + e, e);
    }
  }

  private static <T> T only(Object[] managers, Class<T> type) {
    for (Object o : managers) {
      if (type.isInstance(o)) {
        return type.cast(o);
      }
    }
    throw new IllegalStateException("the JDK offers no " + type.getSimpleName());
  }

  /** A trust manager over the CA read last. Validation, host name check included, is the JDK's (PKIX). */
  static final class ReloadingTrustManager extends X509ExtendedTrustManager {
    volatile X509ExtendedTrustManager current;

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      current.checkServerTrusted(chain, authType, engine);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      current.checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      current.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      throw new CertificateException("connmgr's trust manager only checks servers");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      throw new CertificateException("connmgr's trust manager only checks servers");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      throw new CertificateException("connmgr's trust manager only checks servers");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return current.getAcceptedIssuers();
    }
  }

  /** One generation of the client identity: a JDK key manager over one key entry named {@code alias}. */
  record Generation(String alias, X509ExtendedKeyManager manager) {}

  /**
   * A key manager over the identity read last. Each generation has its own alias, and the one before stays known, so
   * a handshake that chose an alias just before a reload still gets that alias's chain and key, never a mix.
   */
  static final class ReloadingKeyManager extends X509ExtendedKeyManager {
    private volatile Generation current;
    private volatile Generation previous;

    void install(Generation g) {
      previous = current;
      current = g;
    }

    private X509ExtendedKeyManager of(String alias) {
      Generation c = current;
      if (c != null && c.alias().equals(alias)) {
        return c.manager();
      }
      Generation p = previous;
      return p != null && p.alias().equals(alias) ? p.manager() : null;
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
      return current.manager().chooseEngineClientAlias(keyType, issuers, engine);
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
      return current.manager().chooseClientAlias(keyType, issuers, socket);
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      return current.manager().getClientAliases(keyType, issuers);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      X509ExtendedKeyManager m = of(alias);
      return m == null ? null : m.getCertificateChain(alias);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      X509ExtendedKeyManager m = of(alias);
      return m == null ? null : m.getPrivateKey(alias);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      return null;
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
      return null;
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
      return null;
    }
  }

  @Override
  public String toString() {
    return "TlsReloader{" + Objects.toString(config) + " for " + usedBy + "}";
  }
}
