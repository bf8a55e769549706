package io.connmgr.discovery;

import io.connmgr.testing.EtcdCluster;
import io.connmgr.testing.TestPki;
import io.etcd.jetcd.Client;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The discovery contract against etcd with TLS, client-certificate authentication and authentication enabled, read
 * by a user whose only role is READ on the session prefix; the test writes as root.
 */
class EtcdSecureConformanceTest extends DiscoveryConformanceTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember().withClientCertAuth().withAuth("conformance/");

  private static Client writer;

  @BeforeAll
  static void connect() {
    writer = etcd.newClient();
  }

  @AfterAll
  static void disconnect() {
    writer.close();
  }

  @Override
  protected Backend newBackend(String root) {
    TestPki.Issued cert = etcd.clientCert("conformance-client");
    return EtcdConformanceTest.backend(EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(root)
        .tls(etcd.caFile(), cert.cert(), cert.key())
        .auth(EtcdCluster.READER, etcd.password(EtcdCluster.READER).toCharArray())
        .build(), writer, root);
  }
}
