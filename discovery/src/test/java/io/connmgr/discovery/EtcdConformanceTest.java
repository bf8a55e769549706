package io.connmgr.discovery;

import io.connmgr.testing.EtcdCluster;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.RegisterExtension;

class EtcdConformanceTest extends DiscoveryConformanceTest {

  @RegisterExtension
  static final EtcdCluster etcd = EtcdCluster.singleMember();

  private static Client writer;

  @BeforeAll
  static void connect() {
    writer = etcd.newClient();
  }

  @AfterAll
  static void disconnect() {
    writer.close();
  }

  static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  @Override
  protected Backend newBackend(String root) {
    return backend(EtcdDiscovery.builder().endpoints(etcd.clientEndpoints()).root(root).build(), writer, root);
  }

  /** A backend reading through {@code discovery} and writing raw keys through {@code writer}. */
  static Backend backend(EtcdDiscovery discovery, Client writer, String root) {
    return new Backend() {
      @Override
      public Discovery discovery() {
        return discovery;
      }

      @Override
      public void put(Session session) {
        putRaw(session.role(), session.serverId(), SessionCodec.encodeToString(session));
      }

      @Override
      public void putRaw(String role, long id, String json) {
        try {
          writer.getKVClient().put(bytes(root + role + "-" + id), bytes(json)).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }

      @Override
      public void remove(String role, long id) {
        try {
          writer.getKVClient().delete(bytes(root + role + "-" + id)).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }

      @Override
      public void close() {
        discovery.close();
      }
    };
  }
}
