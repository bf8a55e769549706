package io.connmgr.cli;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import java.time.Duration;
import picocli.CommandLine.Option;

/** Options shared by commands that read etcd. */
final class EtcdOptions {

  @Option(names = "--etcd", required = true, paramLabel = "URL",
      description = "etcd client URL(s), comma-separated, e.g. http://127.0.0.1:2379")
  String etcd;

  @Option(names = "--root", paramLabel = "PREFIX", defaultValue = KeyLayout.DEFAULT_ROOT,
      description = "session prefix (default: ${DEFAULT-VALUE})")
  String root;

  @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "5",
      description = "how long to wait for etcd before giving up (default: ${DEFAULT-VALUE})")
  long timeoutSeconds;

  EtcdDiscovery build() {
    return EtcdDiscovery.builder().endpoints(etcd).root(root)
        .connectTimeout(Duration.ofSeconds(Math.max(1, Math.min(timeoutSeconds, 10))))
        .build();
  }
}
