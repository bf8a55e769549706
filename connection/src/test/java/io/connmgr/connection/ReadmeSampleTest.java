package io.connmgr.connection;

import io.connmgr.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;
import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.RegistrationListener;
import io.connmgr.discovery.Session;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.testservers.EchoServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The code sample of README.md: it compiles and runs here, and the README shows exactly these lines. */
@ExtendWith(LeakCheck.class)
class ReadmeSampleTest {

  @Test
  void theSampleRuns() throws Exception {
    EchoResponse reply;
    // README:begin
    try (InMemoryRegistry registry = InMemoryRegistry.create();   // or EtcdDiscovery.builder().endpoints(url).build()
        EchoServer server = EchoServer.start(7, "querynode")) {
      // what a server does at start-up: register its session under a lease, kept alive
      registry.register(Session.builder("querynode", server.address()).serverId(7).build(),
          Duration.ofSeconds(10), RegistrationListener.NONE).get();

      ConnectionManager cm = ConnectionManager.create(ConnectionOptions.builder(registry)
          .dependsOn("querynode")        // connected eagerly, in parallel, never blocking start()
          .build());
      cm.start().get(5, TimeUnit.SECONDS); // start() returns at once; its future completes on the first snapshot

      reply = EchoServiceGrpc.newBlockingStub(cm.pick("querynode"))      // or cm.channel("querynode", 7)
          .withDeadlineAfter(5, TimeUnit.SECONDS)
          .echo(EchoRequest.newBuilder().setMessage("hello").build());
      cm.close();
    }
    // README:end
    assertThat(reply.getServerId()).isEqualTo(7);
  }

  @Test
  void theReadmeShowsExactlyThisSample() throws Exception {
    String source = Files.readString(Path.of("src/test/java/io/connmgr/connection/ReadmeSampleTest.java"));
    String sample = source.substring(source.indexOf("// README:begin\n") + "// README:begin\n".length(),
        source.indexOf("    // README:end"));
    String readme = Files.readString(Path.of("../README.md"));
    assertThat(readme).contains(dedent(sample));
  }

  private static String dedent(String text) {
    String[] lines = text.split("\n");
    int min = Integer.MAX_VALUE;
    for (String l : lines) {
      if (!l.isBlank()) {
        min = Math.min(min, l.length() - l.stripLeading().length());
      }
    }
    StringBuilder b = new StringBuilder();
    for (String l : lines) {
      b.append(l.isBlank() ? "" : l.substring(min)).append('\n');
    }
    return b.toString().strip();
  }
}
