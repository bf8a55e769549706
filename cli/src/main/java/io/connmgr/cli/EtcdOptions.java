package io.connmgr.cli;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Options shared by commands that read etcd: where it is, and how to reach it securely (TLS, a client certificate,
 * a user and password). The password comes from {@code --password-file} or the environment variable
 * {@code CONNMGR_ETCD_PASSWORD}, never from the command line.
 */
final class EtcdOptions {

  @Option(names = "--etcd", required = true, paramLabel = "URL",
      description = "etcd client URL(s), comma-separated, e.g. http://127.0.0.1:2379 (https:// with --cacert)")
  String etcd;

  @Option(names = "--root", paramLabel = "PREFIX", defaultValue = KeyLayout.DEFAULT_ROOT,
      description = "session prefix (default: ${DEFAULT-VALUE})")
  String root;

  @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "5",
      description = "how long to wait for etcd before giving up (default: ${DEFAULT-VALUE})")
  long timeoutSeconds;

  @Mixin
  EtcdSecurity security = new EtcdSecurity();

  EtcdDiscovery build() {
    return build(System.getenv());
  }

  EtcdDiscovery build(Map<String, String> env) {
    EtcdDiscovery.Builder b = EtcdDiscovery.builder();
    try {
      b.endpoints(etcd).root(root).connectTimeout(Duration.ofSeconds(Math.max(1, Math.min(timeoutSeconds, 10))));
      security.apply(b, env);
      return b.build();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(EtcdSecurity.optionNames(e.getMessage()), e);
    }
  }

  /** The one line for an etcd request that failed: refused (credentials, permission) or not reached. */
  CliException failure(Throwable e) {
    Throwable t = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
    if (t instanceof io.connmgr.discovery.DiscoveryException d
        && d.code() != io.connmgr.discovery.DiscoveryException.Code.UNAVAILABLE) {
      return new CliException("etcd at " + etcd + " refused: " + Errors.oneLine(t));
    }
    return new CliException("cannot reach etcd at " + etcd + " (" + Errors.oneLine(t) + ")");
  }
}
