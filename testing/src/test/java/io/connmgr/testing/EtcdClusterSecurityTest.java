package io.connmgr.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The fixture's secure mode: TLS, client certificates and authentication on a three-member cluster. */
class EtcdClusterSecurityTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.members(3).withClientCertAuth().withAuth("app/");

  private static ByteSequence b(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  private static Client as(String user) throws Exception {
    TestPki.Issued cert = etcd.clientCert(user);
    return Client.builder().endpoints(etcd.clientEndpoints().toArray(String[]::new))
        .sslContext(ssl -> ssl.trustManager(etcd.caFile().toFile()).keyManager(cert.cert().toFile(),
            cert.key().toFile()))
        .user(b(user)).password(b(etcd.password(user))).build();
  }

  @Test
  void rootWritesReaderReadsOnlyWriterWritesOnlyItsPrefix() throws Exception {
    assertThat(etcd.clientEndpoints()).allMatch(u -> u.startsWith("https://127.0.0.1:"));
    try (Client root = etcd.newClient(); Client reader = as(EtcdCluster.READER);
        Client writer = as(EtcdCluster.WRITER)) {
      root.getKVClient().put(b("app/a"), b("1")).get(10, TimeUnit.SECONDS);
      assertThat(reader.getKVClient().get(b("app/a")).get(10, TimeUnit.SECONDS).getCount()).isEqualTo(1);
      assertThatThrownBy(() -> reader.getKVClient().put(b("app/b"), b("2")).get(10, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class).hasMessageContaining("permission denied");
      writer.getKVClient().put(b("app/c"), b("3")).get(10, TimeUnit.SECONDS);
      assertThatThrownBy(() -> writer.getKVClient().put(b("other/c"), b("3")).get(10, TimeUnit.SECONDS))
          .isInstanceOf(ExecutionException.class).hasMessageContaining("permission denied");
    }
  }

  @Test
  void aMemberRestartsWithItsTlsAndAuthentication() throws Exception {
    etcd.kill(1);
    etcd.start(1);
    try (Client root = etcd.newClient(1)) {
      root.getKVClient().put(b("app/after-restart"), b("1")).get(10, TimeUnit.SECONDS);
    }
    assertThat(etcd.compact()).isPositive();
  }
}
