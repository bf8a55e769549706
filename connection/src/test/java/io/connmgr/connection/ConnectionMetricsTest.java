package io.connmgr.connection;

import io.connmgr.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testservers.EchoServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

@ExtendWith(LeakCheck.class)
class ConnectionMetricsTest {

  @Test
  void metersMirrorTheStats() throws Exception {
    try (InMemoryRegistry registry = InMemoryRegistry.create(); EchoServer s = EchoServer.start(1, "querynode")) {
      registry.kv().put(registry.layout().sessionKey("querynode", 1),
          SessionCodec.encode(Session.builder("querynode", s.address()).serverId(1).build()));
      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(registry).dependsOn("querynode")
          .build());
      try {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        new ConnectionMetrics(cm, List.of("querynode")).bindTo(meters);
        cm.start().get(5, TimeUnit.SECONDS);
        await().until(() -> meters.get("connmgr.servers").tags("role", "querynode", "state", "ready").gauge()
            .value() == 1.0);
        assertThat(meters.get("connmgr.servers").tags("state", "registered").gauge().value()).isEqualTo(1.0);
        assertThat(meters.get("connmgr.connect.attempts").functionCounter().count()).isEqualTo(1.0);
        assertThat(meters.get("connmgr.channels.open").gauge().value()).isEqualTo(1.0);
        assertThat(meters.get("connmgr.calls.failed.fast").functionCounter().count()).isZero();
        assertThat(meters.get("connmgr.calls.reissued").functionCounter().count()).isZero();
        assertThat(meters.get("connmgr.calls.reissue.budget.exhausted").functionCounter().count()).isZero();
        assertThat(meters.get("connmgr.servers").tags("state", "healthy").gauge().value()).isEqualTo(1.0);
        assertThat(meters.get("connmgr.servers").tags("state", "degraded").gauge().value()).isZero();
        assertThat(meters.get("connmgr.servers").tags("state", "ejected").gauge().value()).isZero();
        assertThat(meters.get("connmgr.servers.ejections").tags("role", "querynode").functionCounter().count())
            .isZero();
      } finally {
        cm.close();
      }
    }
  }
}
