package io.connmgr.agent.internal;

import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.KeyLayout;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The agent's configuration, from agent options ({@code key=value;key=value}), a properties file ({@code config}) and
 * environment variables ({@code CONNMGR_<KEY>}, dots as underscores), in that order of precedence.
 *
 * @param etcd         etcd client URLs
 * @param root         the session prefix
 * @param roles        roles watched from start-up, before any channel asks
 * @param targets      {@code host:port} → role: channels to these targets are rerouted to the role's sessions
 * @param retryInitial first delay before re-watching etcd after an error
 * @param retryMax     longest such delay
 * @param tlsCa        CA of etcd's certificate, or {@code null} for plain http
 * @param tlsCert      client certificate for etcd, or {@code null}
 * @param tlsKey       its key, or {@code null}
 * @param user         etcd user name, or {@code null} without etcd authentication
 * @param password     the user's password (from {@code password.file} or {@code CONNMGR_ETCD_PASSWORD}), or
 *                     {@code null}; never printed: {@link #toString()} leaves it out
 * @param allow        the address allow-list ({@code AddressAllowList} entries, comma-separated), {@code ""} for all
 * @param log          the agent's log level: error, warn, info or debug
 * @param enabled      {@code false} turns the agent off
 */
public record AgentConfig(List<String> etcd, String root, Set<String> roles, Map<String, String> targets,
    Duration retryInitial, Duration retryMax, Path tlsCa, Path tlsCert, Path tlsKey, String user, char[] password,
    String allow, String log, boolean enabled) {

  /** The environment variable that may hold etcd's password (instead of {@code password.file}). */
  static final String PASSWORD_ENV = "CONNMGR_ETCD_PASSWORD";

  /** Every key, with its default ({@code ""} for none). */
  static final Map<String, String> DEFAULTS = defaults();

  private static final Pattern ROLE = Pattern.compile("[A-Za-z0-9_.-]+");

  private static Map<String, String> defaults() {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("etcd", "http://127.0.0.1:2379");
    m.put("root", KeyLayout.DEFAULT_ROOT);
    m.put("roles", "");
    m.put("targets", "");
    m.put("retry.initial", "100ms");
    m.put("retry.max", "5s");
    m.put("tls.ca", "");
    m.put("tls.cert", "");
    m.put("tls.key", "");
    m.put("user", "");
    m.put("password.file", "");
    m.put("allow", "");
    m.put("log", "info");
    m.put("enabled", "true");
    m.put("config", "");
    return m;
  }

  /**
   * Reads the configuration.
   *
   * @param options the agent options, may be {@code null}
   * @param env     the environment
   * @throws IllegalArgumentException naming the key and where it came from if anything is wrong
   */
  public static AgentConfig load(String options, Map<String, String> env) {
    Map<String, String> fromOptions = parseOptions(options);
    Map<String, String> fromEnv = new LinkedHashMap<>();
    for (String key : DEFAULTS.keySet()) {
      String v = env.get(envName(key));
      if (v != null && !v.isBlank()) {
        fromEnv.put(key, v.trim());
      }
    }
    String file = fromOptions.getOrDefault("config", fromEnv.get("config"));
    Map<String, String> fromFile = file == null ? Map.of() : readFile(Path.of(file));
    Map<String, String> merged = new LinkedHashMap<>();
    Map<String, String> origin = new LinkedHashMap<>();
    DEFAULTS.forEach((k, v) -> {
      merged.put(k, v);
      origin.put(k, "default");
    });
    put(merged, origin, fromEnv, "environment variable ");
    put(merged, origin, fromFile, "file " + file + ", ");
    put(merged, origin, fromOptions, "agent option ");
    return build(merged, origin, env.get(PASSWORD_ENV));
  }

  @Override
  public String toString() {
    return "AgentConfig[etcd=" + etcd + ", root=" + root + ", roles=" + roles + ", targets=" + targets
        + ", retryInitial=" + retryInitial + ", retryMax=" + retryMax + ", tlsCa=" + tlsCa + ", tlsCert=" + tlsCert
        + ", tlsKey=" + tlsKey + ", user=" + user + (password != null ? ", password=(set)" : "") + ", allow=" + allow
        + ", log=" + log
        + ", enabled=" + enabled + "]";
  }

  private static void put(Map<String, String> merged, Map<String, String> origin, Map<String, String> values,
      String where) {
    values.forEach((k, v) -> {
      merged.put(k, v);
      origin.put(k, where.startsWith("environment") ? where + envName(k) : where + k);
    });
  }

  /** {@code CONNMGR_RETRY_INITIAL} for {@code retry.initial}. */
  static String envName(String key) {
    return "CONNMGR_" + key.toUpperCase(Locale.ROOT).replace('.', '_');
  }

  private static Map<String, String> parseOptions(String options) {
    Map<String, String> m = new LinkedHashMap<>();
    if (options == null || options.isBlank()) {
      return m;
    }
    for (String part : options.split(";")) {
      if (part.isBlank()) {
        continue;
      }
      int eq = part.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("agent option '" + part.trim() + "' is not key=value (options are"
            + " separated by ';', e.g. etcd=http://127.0.0.1:2379;targets=lb:19530=querynode)");
      }
      m.put(known(part.substring(0, eq).trim(), "agent option"), part.substring(eq + 1).trim());
    }
    return m;
  }

  private static Map<String, String> readFile(Path file) {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      p.load(r);
    } catch (IOException e) {
      throw new IllegalArgumentException("config: cannot read " + file + ": " + e.getMessage());
    }
    Map<String, String> m = new LinkedHashMap<>();
    for (String k : p.stringPropertyNames()) {
      m.put(known(k.trim(), "file " + file + ", key"), p.getProperty(k).trim());
    }
    return m;
  }

  private static String known(String key, String where) {
    if (!DEFAULTS.containsKey(key)) {
      throw new IllegalArgumentException(where + " '" + key + "' is unknown; known keys: "
          + String.join(", ", DEFAULTS.keySet()));
    }
    return key;
  }

  private static AgentConfig build(Map<String, String> v, Map<String, String> origin, String passwordEnv) {
    String key = null;
    try {
      key = "etcd";
      List<String> etcd = List.of(v.get("etcd").split("\\s*,\\s*"));
      EtcdDiscovery.builder().endpoints(etcd); // checks each URL
      key = "root";
      String root = KeyLayout.withRoot(v.get("root")).root();
      key = "roles";
      Set<String> roles = new LinkedHashSet<>();
      for (String r : list(v.get("roles"))) {
        roles.add(role(r));
      }
      key = "targets";
      Map<String, String> targets = new LinkedHashMap<>();
      for (String t : list(v.get("targets"))) {
        int eq = t.lastIndexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException("'" + t + "' is not host:port=role");
        }
        targets.put(hostPort(t.substring(0, eq).trim()).toLowerCase(Locale.ROOT), role(t.substring(eq + 1).trim()));
      }
      key = "retry.initial";
      Duration initial = duration(v.get("retry.initial"));
      key = "retry.max";
      Duration max = duration(v.get("retry.max"));
      EtcdDiscovery.builder().retryBackoff(initial, max);
      key = "tls.ca";
      Path ca = path(v.get("tls.ca"));
      key = "tls.cert";
      Path cert = path(v.get("tls.cert"));
      key = "tls.key";
      Path tlsKey = path(v.get("tls.key"));
      if (ca != null || cert != null || tlsKey != null) {
        key = "tls.ca";
        if (ca == null) {
          throw new IllegalArgumentException("required with tls.cert and tls.key");
        }
        EtcdDiscovery.builder().endpoints(etcd).tls(ca, cert, tlsKey);
        if (etcd.stream().anyMatch(u -> !u.startsWith("https://"))) {
          key = "etcd";
          throw new IllegalArgumentException("TLS is configured, so every URL must be https://");
        }
      }
      key = "user";
      String user = v.get("user").isBlank() ? null : v.get("user");
      key = "password.file";
      Path passwordFile = path(v.get("password.file"));
      char[] password = null;
      if (passwordFile != null) {
        if (user == null) {
          key = "user";
          throw new IllegalArgumentException("required with password.file");
        }
        password = EtcdDiscovery.Builder.readPasswordFile(passwordFile);
      } else if (user != null) {
        if (passwordEnv == null || passwordEnv.isEmpty()) {
          throw new IllegalArgumentException("user " + user + " needs a password: set password.file or the "
              + "environment variable " + PASSWORD_ENV);
        }
        password = passwordEnv.toCharArray();
      }
      key = "allow";
      String allow = v.get("allow").trim();
      io.connmgr.connection.AddressAllowList.parse(allow); // checks each entry
      key = "log";
      String log = v.get("log").toLowerCase(Locale.ROOT);
      if (!List.of("error", "warn", "info", "debug").contains(log)) {
        throw new IllegalArgumentException("'" + log + "' is not one of error, warn, info, debug");
      }
      key = "enabled";
      String en = v.get("enabled").toLowerCase(Locale.ROOT);
      if (!en.equals("true") && !en.equals("false")) {
        throw new IllegalArgumentException("'" + en + "' is not true or false");
      }
      return new AgentConfig(etcd, root, Set.copyOf(roles), Map.copyOf(targets), initial, max, ca, cert, tlsKey, user, password, allow, log,
          Boolean.parseBoolean(en));
    } catch (IllegalArgumentException e) {
      String msg = e.getMessage();
      // messages from the discovery builder start with their field: ours if it is one of our keys
      if (msg != null && msg.matches("^[a-zA-Z.-]+: .*")) {
        String field = msg.substring(0, msg.indexOf(": "));
        if (DEFAULTS.containsKey(field)) {
          key = field;
        }
        msg = msg.substring(msg.indexOf(": ") + 2);
      }
      throw new IllegalArgumentException(key + " (" + origin.get(key) + "): " + msg, e);
    }
  }

  private static List<String> list(String s) {
    return s.isBlank() ? List.of() : List.of(s.split("\\s*,\\s*"));
  }

  private static String role(String r) {
    if (!ROLE.matcher(r).matches()) {
      throw new IllegalArgumentException("'" + r + "' is not a role name (letters, digits, '_', '.', '-')");
    }
    return r;
  }

  private static String hostPort(String s) {
    int colon = s.lastIndexOf(':');
    if (colon <= 0 || s.contains("/")) {
      throw new IllegalArgumentException("'" + s + "' is not host:port");
    }
    try {
      int port = Integer.parseInt(s.substring(colon + 1));
      if (port < 1 || port > 65535) {
        throw new NumberFormatException();
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + s + "' has no port in 1..65535");
    }
    return s;
  }

  /** {@code 250ms}, {@code 2s}, {@code 1m} or ISO-8601 ({@code PT2S}). */
  static Duration duration(String s) {
    try {
      String t = s.trim().toLowerCase(Locale.ROOT);
      if (t.endsWith("ms")) {
        return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
      } else if (t.endsWith("s") && !t.startsWith("pt")) {
        return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
      } else if (t.endsWith("m") && !t.startsWith("pt")) {
        return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
      }
      return Duration.parse(s.trim());
    } catch (NumberFormatException | DateTimeParseException e) {
      throw new IllegalArgumentException("'" + s + "' is not a duration like 250ms, 2s or 1m");
    }
  }

  private static Path path(String s) {
    return s == null || s.isBlank() ? null : Path.of(s);
  }

  /** A one-line description for the start-up log. */
  String describe() {
    return "etcd=" + String.join(",", etcd) + " root=" + root + (roles.isEmpty() ? "" : " roles=" + roles)
        + (targets.isEmpty() ? "" : " targets=" + targets) + (tlsCa == null ? "" : " tls");
  }
}
