package io.connmgr.discovery;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.io.TempDir;

class StaticFileConformanceTest extends DiscoveryConformanceTest {

  @TempDir
  Path dir;

  @Override
  protected Backend newBackend(String root) throws IOException {
    Path file = dir.resolve("cluster.json");
    Files.writeString(file, "{\"sessions\": []}");
    StaticFileDiscovery discovery = StaticFileDiscovery.builder(file)
        .layout(KeyLayout.withRoot(root))
        .pollInterval(Duration.ofMillis(50))
        .build();
    Map<String, String> entries = new TreeMap<>();
    return new Backend() {
      @Override
      public Discovery discovery() {
        return discovery;
      }

      @Override
      public synchronized void put(Session session) {
        entries.put(session.role() + "-" + session.serverId(), SessionCodec.encodeToString(session));
        write();
      }

      @Override
      public synchronized void putRaw(String role, long id, String json) {
        entries.put(role + "-" + id, json);
        write();
      }

      @Override
      public synchronized void remove(String role, long id) {
        entries.remove(role + "-" + id);
        write();
      }

      private void write() {
        try {
          Path tmp = dir.resolve("cluster.json.tmp");
          Files.writeString(tmp, "{\"sessions\": [" + String.join(",\n", entries.values()) + "]}");
          Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
        discovery.reload(); // the poll would find it too; this keeps each write one revision
      }

      @Override
      public void close() {
        discovery.close();
      }
    };
  }
}
