package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testing.TestPki;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * Discovery and registration against etcd with TLS, client-certificate authentication and etcd authentication
 * (a read-only and a read-write user on the session prefix), and every bad input: one clear line each.
 */
@ExtendWith(LeakCheck.class)
class EtcdSecurityTest {

  static final String ROOT = "secure/";

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember().withClientCertAuth().withAuth(ROOT);

  @TempDir
  Path dir;

  private EtcdDiscovery.Builder reader() {
    TestPki.Issued cert = etcd.clientCert("app");
    return EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(ROOT)
        .tls(etcd.caFile(), cert.cert(), cert.key())
        .auth(EtcdCluster.READER, etcd.password(EtcdCluster.READER).toCharArray())
        .retryBackoff(Duration.ofMillis(20), Duration.ofMillis(200));
  }

  private EtcdDiscovery.Builder writer() throws Exception {
    TestPki.Issued cert = etcd.clientCert("app");
    Path pw = Files.writeString(dir.resolve("writer.pw"), etcd.password(EtcdCluster.WRITER) + "\n");
    return EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(ROOT)
        .tls(etcd.caFile(), cert.cert(), cert.key())
        .auth(EtcdCluster.WRITER, pw);
  }

  private static Session qn(long id) {
    return Session.builder("querynode", "127.0.0.1:" + (20000 + id)).serverId(id).build();
  }

  private static Throwable failure(java.util.concurrent.Future<?> f) {
    try {
      f.get(15, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      return e.getCause();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
    throw new AssertionError("expected a failure");
  }

  @Test
  void aReadWriteUserRegistersAndAReadOnlyUserWatches() throws Exception {
    try (EtcdDiscovery w = writer().build(); EtcdDiscovery r = reader().build()) {
      RecordingListener events = new RecordingListener();
      try (Subscription sub = r.subscribe("querynode", events, null)) {
        events.awaitSynced();
        Registration reg = w.register(qn(1), Duration.ofSeconds(5), RegistrationListener.NONE).get(15, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> events.view().containsKey(ROOT + "querynode-1"));
        assertThat(r.snapshot("querynode").get(10, TimeUnit.SECONDS).sessions()).extracting(Session::serverId)
            .containsExactly(1L);
        reg.closeAsync().get(10, TimeUnit.SECONDS);
        await().atMost(Duration.ofSeconds(10)).until(() -> !events.view().containsKey(ROOT + "querynode-1"));
      }
    }
  }

  @Test
  void theReadOnlyUserMayNotRegister() {
    try (EtcdDiscovery r = reader().build()) {
      Throwable t = failure(r.register(qn(2), Duration.ofSeconds(5), RegistrationListener.NONE));
      assertThat(t).isInstanceOf(DiscoveryException.class);
      assertThat(((DiscoveryException) t).code()).isEqualTo(DiscoveryException.Code.PERMISSION_DENIED);
      assertThat(t.getMessage()).contains("etcd denied the request");
    }
  }

  @Test
  void aClientCertificateAloneAuthenticatesAsItsCommonName() throws Exception {
    TestPki.Issued asReader = etcd.clientCert(EtcdCluster.READER);
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(ROOT)
        .tls(etcd.caFile(), asReader.cert(), asReader.key()).build()) {
      assertThat(d.snapshot("querynode").get(10, TimeUnit.SECONDS).revision()).isPositive();
    }
  }

  @Test
  void aWrongPasswordIsRefusedWithOneClearLine() {
    TestPki.Issued cert = etcd.clientCert("app");
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(ROOT)
        .tls(etcd.caFile(), cert.cert(), cert.key()).auth(EtcdCluster.READER, "wrong".toCharArray()).build()) {
      Throwable t = failure(d.snapshot("querynode"));
      assertThat(((DiscoveryException) t).code()).isEqualTo(DiscoveryException.Code.UNAUTHENTICATED);
      assertThat(t.getMessage()).contains("etcd refused the user name or password").doesNotContain("\n");
    }
  }

  @Test
  void aWrongCaIsNamedAtTheFirstRequest() {
    TestPki other = TestPki.create(dir, "other-ca");
    TestPki.Issued cert = etcd.clientCert("app");
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(ROOT)
        .tls(other.caFile(), cert.cert(), cert.key()).connectTimeout(Duration.ofSeconds(2)).build()) {
      Throwable t = failure(d.snapshot("querynode"));
      assertThat(((DiscoveryException) t).code()).isEqualTo(DiscoveryException.Code.UNAVAILABLE);
      assertThat(t.getMessage()).contains("TLS: etcd's certificate is not signed by a trusted CA");
    }
  }

  @Test
  void aClientCertificateFromAnotherCaIsRefusedByEtcd() {
    TestPki other = TestPki.create(dir, "rogue-ca");
    TestPki.Issued rogue = other.client("app");
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(ROOT)
        .tls(etcd.caFile(), rogue.cert(), rogue.key()).connectTimeout(Duration.ofSeconds(2)).build()) {
      Throwable t = failure(d.snapshot("querynode"));
      assertThat(t.getMessage()).contains("TLS: ");
    }
  }

  @Test
  void badFilesFailAtBuildTimeNamingTheOptionAndFile() throws Exception {
    TestPki.Issued cert = etcd.clientCert("app");
    Path missing = dir.resolve("missing.pem");
    EtcdDiscovery.Builder b = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints());
    assertThatThrownBy(() -> b.tls(missing, null, null))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("tls.ca: cannot read " + missing + " (no such file)");
    assertThatThrownBy(() -> b.tls(etcd.caFile(), cert.cert(), null)).hasMessage("tls.key: required with tls.cert");
    TestPki.Issued expired = etcd.pki().expiredServer("old");
    assertThatThrownBy(() -> b.tls(etcd.caFile(), expired.cert(), expired.key()))
        .hasMessageStartingWith("tls.cert: the certificate in " + expired.cert()).hasMessageContaining("expired on");
    Path encrypted = TestPki.writeEncryptedPkcs8Key(cert, dir.resolve("enc.pem"), "pw".toCharArray());
    assertThatThrownBy(() -> b.tls(etcd.caFile(), cert.cert(), encrypted))
        .hasMessageStartingWith("tls.key: " + encrypted + " holds an encrypted PKCS#8 key");
    assertThatThrownBy(() -> EtcdDiscovery.builder().endpoints("http://127.0.0.1:2379").tls(etcd.caFile(), null, null)
        .build()).hasMessage("endpoints: TLS is configured (tls.ca) but not every endpoint is https://");
    assertThatThrownBy(() -> b.auth("reader", dir.resolve("no-password")))
        .hasMessage("password-file: cannot read " + dir.resolve("no-password") + " (no such file)");
    assertThatThrownBy(() -> b.auth("reader", Files.writeString(dir.resolve("empty"), "\n")))
        .hasMessage("password-file: " + dir.resolve("empty") + " is empty");
    assertThatThrownBy(() -> b.auth("", "x".toCharArray())).hasMessage("user: must not be empty");
  }

  @Test
  void plaintextToATlsEtcdIsNotAHang() {
    String http = etcd.clientEndpoints().get(0).replace("https://", "http://");
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(http).root(ROOT).connectTimeout(Duration.ofSeconds(2))
        .build()) {
      Throwable t = failure(d.snapshot("querynode"));
      assertThat(((DiscoveryException) t).code()).isEqualTo(DiscoveryException.Code.UNAVAILABLE);
    }
  }

  /** A whole run with TLS and authentication, at DEBUG, a wrong password included: the password is nowhere. */
  @Test
  void noPasswordInAnyLogLineExceptionOrToString() throws Exception {
    Logger root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    ListAppender<ILoggingEvent> captured = new ListAppender<>();
    captured.start();
    Level before = root.getLevel();
    List<Logger> quiet = new CopyOnWriteArrayList<>();
    for (String name : new String[] {"io.connmgr", "io.etcd.jetcd", "io.grpc", "io.vertx", "io.netty"}) {
      Logger l = (Logger) LoggerFactory.getLogger(name);
      quiet.add(l);
    }
    List<Level> levels = quiet.stream().map(Logger::getLevel).toList();
    root.addAppender(captured);
    root.setLevel(Level.DEBUG);
    quiet.forEach(l -> l.setLevel(Level.DEBUG));
    List<String> texts = new CopyOnWriteArrayList<>();
    String writerPassword = etcd.password(EtcdCluster.WRITER);
    String readerPassword = etcd.password(EtcdCluster.READER);
    try {
      try (EtcdDiscovery w = writer().build(); EtcdDiscovery r = reader().build()) {
        texts.add(w.toString());
        texts.add(r.toString());
        RecordingListener events = new RecordingListener();
        try (Subscription sub = r.subscribe("querynode", events, null)) {
          Registration reg = w.register(qn(7), Duration.ofSeconds(5), RegistrationListener.NONE)
              .get(15, TimeUnit.SECONDS);
          texts.add(reg.toString());
          await().atMost(Duration.ofSeconds(10)).until(() -> events.view().containsKey(ROOT + "querynode-7"));
          reg.closeAsync().get(10, TimeUnit.SECONDS);
        }
      }
      TestPki.Issued cert = etcd.clientCert("app");
      try (EtcdDiscovery bad = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(ROOT)
          .tls(etcd.caFile(), cert.cert(), cert.key()).auth(EtcdCluster.READER, (readerPassword + "x").toCharArray())
          .build()) {
        Throwable t = failure(bad.snapshot("querynode"));
        StringWriter trace = new StringWriter();
        t.printStackTrace(new PrintWriter(trace));
        texts.add(trace.toString());
        texts.add(bad.toString());
      }
    } finally {
      root.detachAppender(captured);
      root.setLevel(before);
      for (int i = 0; i < quiet.size(); i++) {
        quiet.get(i).setLevel(levels.get(i));
      }
    }
    for (ILoggingEvent e : captured.list) {
      texts.add(e.getFormattedMessage());
      if (e.getThrowableProxy() != null) {
        texts.add(ch.qos.logback.classic.spi.ThrowableProxyUtil.asString(e.getThrowableProxy()));
      }
    }
    assertThat(captured.list).isNotEmpty();
    assertThat(texts).noneMatch(s -> s.contains(writerPassword) || s.contains(readerPassword));
  }
}
