package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link StaticFileDiscovery#leader}: a static cluster file cannot name a leader. */
class StaticFileLeaderTest {

  @Test
  void leaderFailsNoLeaderSayingAStaticFileHasNoActiveKeys(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, "{\"sessions\": [{\"ServerID\": 1, \"ServerName\": \"rootcoord\", "
        + "\"Address\": \"10.0.0.1:53100\", \"Exclusive\": true}]}");
    try (StaticFileDiscovery d = StaticFileDiscovery.builder(file).build()) {
      assertThat(d.snapshot("rootcoord").get(10, TimeUnit.SECONDS).sessions()).hasSize(1);
      Throwable t = catchThrowable(() -> d.leader("rootcoord").get(10, TimeUnit.SECONDS));
      assertThat(t).isInstanceOf(ExecutionException.class);
      DiscoveryException e = (DiscoveryException) t.getCause();
      assertThat(e.code()).isEqualTo(DiscoveryException.Code.NO_LEADER);
      assertThat(e.getMessage()).contains("static cluster file has no active keys")
          .contains("'" + KeyLayout.DEFAULT_ROOT + "rootcoord'");
    }
  }
}
