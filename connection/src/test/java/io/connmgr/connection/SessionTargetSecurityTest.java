package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.testing.EtcdCluster;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testing.TestPki;
import io.connmgr.testservers.EchoServer;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code session:///} channels reading etcd over mutual TLS as a read-only user, configured by system properties;
 * an unusable property fails the channel's calls at once naming it.
 */
@ExtendWith(LeakCheck.class)
class SessionTargetSecurityTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember().withClientCertAuth().withAuth(KeyLayout.DEFAULT_ROOT);

  private static final String[] PROPERTIES = {"connmgr.etcd", "connmgr.etcd.cacert", "connmgr.etcd.cert",
      "connmgr.etcd.key", "connmgr.etcd.user", "connmgr.etcd.password.file"};

  @TempDir
  Path dir;

  @AfterEach
  void clearProperties() {
    for (String p : PROPERTIES) {
      System.clearProperty(p);
    }
  }

  private void configure(Map<String, String> values) {
    values.forEach(System::setProperty);
  }

  @Test
  void aSessionTargetOverMutualTlsAsAReadOnlyUser() throws Exception {
    TestPki.Issued cert = etcd.clientCert("channel");
    TestPki.Issued registrarCert = etcd.clientCert("registrar");
    Path pw = Files.writeString(dir.resolve("reader.pw"), etcd.password(EtcdCluster.READER) + "\n");
    configure(Map.of("connmgr.etcd", String.join(",", etcd.clientEndpoints()),
        "connmgr.etcd.cacert", etcd.caFile().toString(), "connmgr.etcd.cert", cert.cert().toString(),
        "connmgr.etcd.key", cert.key().toString(), "connmgr.etcd.user", EtcdCluster.READER,
        "connmgr.etcd.password.file", pw.toString()));
    try (EchoServer server = EchoServer.start(3, "querynode");
        EtcdDiscovery registry = EtcdDiscovery.builder().endpoints(etcd.clientEndpoints())
            .tls(etcd.caFile(), registrarCert.cert(), registrarCert.key())
            .auth(EtcdCluster.WRITER, etcd.password(EtcdCluster.WRITER).toCharArray()).build()) {
      registry.register(Session.builder("querynode", server.address()).serverId(3).build(), Duration.ofSeconds(10),
          RegistrationListener.NONE).get(10, TimeUnit.SECONDS);
      ManagedChannel ch = ManagedChannelBuilder.forTarget("session:///querynode").usePlaintext()
          .intercept(SessionNameResolverProvider.failFast()).build();
      try {
        await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> EchoServiceGrpc.newBlockingStub(ch)
            .withDeadlineAfter(2, TimeUnit.SECONDS).echo(EchoRequest.newBuilder().setMessage("tls").build())
            .getServerId() == 3);
        assertThat(server.lastServerIdHeader()).isEqualTo("3");
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  @Test
  void anUnusablePropertyFailsCallsAtOnceNamingIt() throws Exception {
    Path missing = dir.resolve("missing-ca.pem");
    configure(Map.of("connmgr.etcd", String.join(",", etcd.clientEndpoints()), "connmgr.etcd.cacert",
        missing.toString()));
    ManagedChannel ch = ManagedChannelBuilder.forTarget("session:///querynode").usePlaintext().build();
    try {
      assertThatThrownBy(() -> EchoServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
          .echo(EchoRequest.newBuilder().setMessage("x").build()))
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
            assertThat(e.getStatus().getDescription())
                .contains("connmgr.etcd.cacert: cannot read " + missing + " (no such file)");
          });
    } finally {
      ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
