package io.connmgr.cli;

import io.connmgr.discovery.EtcdDiscovery;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * How to reach etcd securely, on every command that takes {@code --etcd}: TLS ({@code --cacert}), a client
 * certificate ({@code --cert}, {@code --key}) and a user ({@code --user}) whose password comes from
 * {@code --password-file} or the environment variable {@code CONNMGR_ETCD_PASSWORD}, never from the command line.
 */
final class EtcdSecurity {

  /** The environment variable that may hold etcd's password. */
  static final String PASSWORD_ENV = "CONNMGR_ETCD_PASSWORD";

  @Option(names = "--cacert", paramLabel = "FILE",
      description = "TLS: the PEM CA certificate that signed etcd's (the endpoints must be https://)")
  Path cacert;

  @Option(names = "--cert", paramLabel = "FILE", description = "TLS: a PEM client certificate (with --key)")
  Path cert;

  @Option(names = "--key", paramLabel = "FILE",
      description = "TLS: the client certificate's private key, PEM: PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted")
  Path key;

  @Option(names = "--user", paramLabel = "NAME",
      description = "etcd user; the password from --password-file or the environment variable " + PASSWORD_ENV)
  String user;

  @Option(names = "--password-file", paramLabel = "FILE", description = "a file whose first line is the password")
  Path passwordFile;

  /** Applies these options to {@code b}; errors name the builder's fields (see {@link #optionNames}). */
  void apply(EtcdDiscovery.Builder b, Map<String, String> env) {
    if (cacert != null) {
      b.tls(cacert, cert, key);
    } else if (cert != null || key != null) {
      throw new IllegalArgumentException("--cacert: required with --cert and --key");
    }
    if (user != null) {
      if (passwordFile != null) {
        b.auth(user, passwordFile);
      } else {
        String pw = env.get(PASSWORD_ENV);
        if (pw == null || pw.isEmpty()) {
          throw new IllegalArgumentException("--user " + user + ": needs --password-file FILE or the environment "
              + "variable " + PASSWORD_ENV);
        }
        b.auth(user, pw.toCharArray());
      }
    } else if (passwordFile != null) {
      throw new IllegalArgumentException("--password-file: needs --user");
    }
  }

  /** The agent options ({@code key=value}) saying the same, for {@code attach}; the password travels as a file only. */
  List<String> agentOptions() {
    List<String> out = new ArrayList<>();
    if (cacert != null) {
      out.add("tls.ca=" + cacert.toAbsolutePath());
    }
    if (cert != null) {
      out.add("tls.cert=" + cert.toAbsolutePath());
    }
    if (key != null) {
      out.add("tls.key=" + key.toAbsolutePath());
    }
    if (user != null) {
      out.add("user=" + user);
    }
    if (passwordFile != null) {
      out.add("password.file=" + passwordFile.toAbsolutePath());
    }
    return out;
  }

  /** The builder names its fields ({@code tls.ca: ...}); the user typed options. */
  static String optionNames(String message) {
    if (message == null) {
      return "invalid etcd options";
    }
    return message.replaceFirst("^tls\\.ca:", "--cacert:").replaceFirst("^tls\\.cert:", "--cert:")
        .replaceFirst("^tls\\.key:", "--key:").replaceFirst("^password-file:", "--password-file:")
        .replaceFirst("^user:", "--user:").replaceFirst("^password:", "--password-file:")
        .replaceFirst("^endpoints:", "--etcd:").replaceFirst("^root:", "--root:");
  }
}
