package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.testing.EtcdCluster;
import io.connmgr.testing.LeakCheck;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;

/** etcd with TLS only (no client certificates, no authentication): the server verified against a CA file. */
@ExtendWith(LeakCheck.class)
class EtcdTlsOnlyTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember().withTls();

  @Test
  void aCaFileIsEnoughToReadAndRegister() throws Exception {
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root("tls-only/")
        .tls(etcd.caFile(), null, null).build()) {
      Registration r = d.register(Session.builder("querynode", "127.0.0.1:21001").serverId(1).build(),
          Duration.ofSeconds(5), RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
      assertThat(d.snapshot("querynode").get(10, TimeUnit.SECONDS).sessions()).hasSize(1);
      r.closeAsync().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void httpsWithoutACaFileTrustsOnlyTheJdksCas() {
    try (EtcdDiscovery d = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root("tls-only/")
        .connectTimeout(Duration.ofSeconds(2)).build()) {
      ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
          () -> d.snapshot("querynode").get(15, TimeUnit.SECONDS));
      assertThat(e.getCause()).hasMessageContaining("TLS: etcd's certificate is not signed by a trusted CA");
    }
  }
}
