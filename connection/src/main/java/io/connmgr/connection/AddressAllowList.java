package io.connmgr.connection;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The addresses sessions may point a client at: a session whose address is outside the list is ignored as if it were
 * absent (see {@link ConnectionOptions.Builder#allowAddresses}), so a writer of the session store cannot send the
 * client's calls (and their credentials) to a host of its choosing.
 *
 * <p>Entries:
 * <ul>
 *   <li>an IPv4 or IPv6 CIDR range: {@code 10.0.0.0/8}, {@code fd00::/8} (host bits must be zero);</li>
 *   <li>a single IP address: {@code 10.1.2.3}, {@code ::1};</li>
 *   <li>an exact host name, matched ignoring case and a trailing dot: {@code db.example.com};</li>
 *   <li>a wildcard {@code *.suffix}: every name that ends with {@code .suffix}, at any depth
 *       ({@code *.svc.cluster.local} matches {@code a.svc.cluster.local} and {@code a.b.svc.cluster.local}, not
 *       {@code svc.cluster.local} itself).</li>
 * </ul>
 *
 * <p>An address whose host is an IP literal matches only the CIDR and IP entries; one whose host is a name matches only
 * the name entries. <b>No name is ever resolved</b>: the check runs on the manager's control thread and on a
 * {@code session} channel's synchronization context, where a DNS lookup must not block, and a name's resolution can
 * change between the check and the connect, so checking resolved addresses would not bound where calls go anyway. To
 * allow sessions that carry names, list the names (or their suffix).
 *
 * <p>Immutable and thread-safe; {@link #allows} never blocks.
 */
public final class AddressAllowList {

  /** Allows every address: no allow-list. */
  public static final AddressAllowList ALL = new AddressAllowList(List.of(), null, null, null, null);

  private final List<String> entries;
  /** CIDR ranges and single addresses: network bytes and prefix length; {@code null} for {@link #ALL}. */
  private final byte[][] networks;
  private final int[] prefixes;
  /** Exact names (lower case, no trailing dot), and wildcard suffixes with their leading dot ({@code .svc.local}). */
  private final String[] names;
  private final String[] suffixes;

  private AddressAllowList(List<String> entries, byte[][] networks, int[] prefixes, String[] names,
      String[] suffixes) {
    this.entries = entries;
    this.networks = networks;
    this.prefixes = prefixes;
    this.names = names;
    this.suffixes = suffixes;
  }

  /**
   * An allow-list of {@code entries}. At least one entry; use {@link #ALL} for none.
   *
   * @throws IllegalArgumentException naming the first entry that is not a CIDR range, an IP address, a host name or
   *     a {@code *.suffix} wildcard, and why
   */
  public static AddressAllowList of(String... entries) {
    return of(Arrays.asList(Objects.requireNonNull(entries, "entries")));
  }

  /** {@link #of(String...)} over a collection. */
  public static AddressAllowList of(Collection<String> entries) {
    Objects.requireNonNull(entries, "entries");
    if (entries.isEmpty()) {
      throw new IllegalArgumentException(
          "allow-list: no entry given (use AddressAllowList.ALL to allow every address)");
    }
    List<byte[]> nets = new ArrayList<>();
    List<Integer> prefixList = new ArrayList<>();
    List<String> nameList = new ArrayList<>();
    List<String> suffixList = new ArrayList<>();
    List<String> kept = new ArrayList<>();
    for (String raw : entries) {
      String e = raw == null ? "" : raw.trim();
      if (e.isEmpty()) {
        throw bad(raw == null ? "" : raw, "it is empty");
      }
      kept.add(e);
      if (e.indexOf('/') >= 0) {
        int slash = e.indexOf('/');
        byte[] net = ipLiteral(e.substring(0, slash));
        if (net == null) {
          throw bad(e, "'" + e.substring(0, slash) + "' before the '/' is not an IP address");
        }
        int bits = net.length * 8;
        int prefix;
        try {
          prefix = Integer.parseInt(e.substring(slash + 1));
        } catch (NumberFormatException x) {
          throw bad(e, "the prefix length '" + e.substring(slash + 1) + "' is not a number");
        }
        if (prefix < 0 || prefix > bits) {
          throw bad(e, "the prefix length " + prefix + " is outside 0.." + bits);
        }
        if (!hostBitsZero(net, prefix)) {
          throw bad(e, "host bits are set after the first " + prefix + " bits");
        }
        nets.add(net);
        prefixList.add(prefix);
      } else if (e.startsWith("*.")) {
        String suffix = normalizeName(e.substring(2));
        String why = nameProblem(suffix);
        if (why != null) {
          throw bad(e, why);
        }
        suffixList.add("." + suffix);
      } else if (e.indexOf('*') >= 0) {
        throw bad(e, "a wildcard is only allowed as a leading '*.' (e.g. *.svc.cluster.local)");
      } else if (looksLikeIp(e)) {
        byte[] ip = ipLiteral(e);
        if (ip == null) {
          throw bad(e, "it is not a valid IP address");
        }
        nets.add(ip);
        prefixList.add(ip.length * 8);
      } else {
        String name = normalizeName(e);
        String why = nameProblem(name);
        if (why != null) {
          throw bad(e, why);
        }
        nameList.add(name);
      }
    }
    int[] prefixes = new int[prefixList.size()];
    for (int i = 0; i < prefixes.length; i++) {
      prefixes[i] = prefixList.get(i);
    }
    return new AddressAllowList(List.copyOf(kept), nets.toArray(new byte[0][]), prefixes,
        nameList.toArray(new String[0]), suffixList.toArray(new String[0]));
  }

  /**
   * Parses a comma-separated list ({@code "10.0.0.0/8, *.svc.cluster.local"}), as given in the {@code connmgr.allow}
   * system property; blank text gives {@link #ALL}.
   *
   * @throws IllegalArgumentException as {@link #of(String...)}
   */
  public static AddressAllowList parse(String commaSeparated) {
    if (commaSeparated == null || commaSeparated.isBlank()) {
      return ALL;
    }
    return of(commaSeparated.split(",", -1));
  }

  /** The entries as given (trimmed); empty for {@link #ALL}. */
  public List<String> entries() {
    return entries;
  }

  /** Whether this list allows every address ({@link #ALL}). */
  public boolean allowsAll() {
    return networks == null;
  }

  /**
   * Whether {@code host} (an IP literal without brackets, or a host name; no port) is allowed. Never resolves a name.
   */
  public boolean allows(String host) {
    if (networks == null) {
      return true;
    }
    if (host == null || host.isEmpty()) {
      return false;
    }
    if (looksLikeIp(host)) {
      byte[] ip = ipLiteral(host);
      if (ip == null) {
        return false;
      }
      for (int i = 0; i < networks.length; i++) {
        if (networks[i].length == ip.length && inPrefix(networks[i], prefixes[i], ip)) {
          return true;
        }
      }
      return false;
    }
    String name = normalizeName(host);
    for (String n : names) {
      if (n.equals(name)) {
        return true;
      }
    }
    for (String s : suffixes) {
      if (name.length() > s.length() && name.endsWith(s)) {
        return true;
      }
    }
    return false;
  }

  /** Whether the host of {@code address} ({@code host:port} or {@code [v6]:port}) is allowed. */
  public boolean allowsAddress(String address) {
    if (networks == null) {
      return true;
    }
    try {
      return allows(io.connmgr.discovery.HostAndPort.parse(address).host());
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AddressAllowList a && a.entries.equals(entries) && a.allowsAll() == allowsAll();
  }

  @Override
  public int hashCode() {
    return entries.hashCode();
  }

  @Override
  public String toString() {
    return allowsAll() ? "AddressAllowList[all]" : "AddressAllowList" + entries;
  }

  private static IllegalArgumentException bad(String entry, String why) {
    return new IllegalArgumentException("allow-list entry '" + entry + "': " + why);
  }

  /** An IPv6 literal (it has a colon) or only digits and dots: to be parsed as an IP, never as a name. */
  private static boolean looksLikeIp(String s) {
    if (s.indexOf(':') >= 0) {
      return true;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c != '.' && (c < '0' || c > '9')) {
        return false;
      }
    }
    return true;
  }

  /**
   * The bytes of an IP literal, or {@code null}. IPv4 is parsed here strictly (four decimal octets); IPv6 by
   * {@link InetAddress#getByName}, which treats any text with a colon as a literal and never looks it up.
   */
  private static byte[] ipLiteral(String s) {
    if (s.startsWith("[") && s.endsWith("]")) {
      s = s.substring(1, s.length() - 1);
    }
    if (s.indexOf(':') < 0) {
      return ipv4(s);
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!(c == ':' || c == '.' || c == '%' || Character.digit(c, 16) >= 0)) {
        return null;
      }
    }
    try {
      InetAddress a = InetAddress.getByName(s); // a colon: parsed as an IPv6 literal, no lookup
      return a.getAddress(); // ::ffff:a.b.c.d comes back as IPv4 (an Inet4Address), matched by IPv4 ranges
    } catch (UnknownHostException | RuntimeException e) {
      return null;
    }
  }

  private static byte[] ipv4(String s) {
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4) {
      return null;
    }
    byte[] out = new byte[4];
    for (int i = 0; i < 4; i++) {
      String p = parts[i];
      if (p.isEmpty() || p.length() > 3 || (p.length() > 1 && p.charAt(0) == '0')) {
        return null; // no empty, over-long or octal-looking octets
      }
      int v = 0;
      for (int j = 0; j < p.length(); j++) {
        char c = p.charAt(j);
        if (c < '0' || c > '9') {
          return null;
        }
        v = v * 10 + (c - '0');
      }
      if (v > 255) {
        return null;
      }
      out[i] = (byte) v;
    }
    return out;
  }

  private static boolean hostBitsZero(byte[] net, int prefix) {
    for (int bit = prefix; bit < net.length * 8; bit++) {
      if ((net[bit / 8] & (0x80 >>> (bit % 8))) != 0) {
        return false;
      }
    }
    return true;
  }

  private static boolean inPrefix(byte[] net, int prefix, byte[] ip) {
    int full = prefix / 8;
    for (int i = 0; i < full; i++) {
      if (net[i] != ip[i]) {
        return false;
      }
    }
    int rest = prefix % 8;
    if (rest == 0) {
      return true;
    }
    int mask = (0xff << (8 - rest)) & 0xff;
    return (net[full] & mask) == (ip[full] & mask);
  }

  private static String normalizeName(String s) {
    String n = s.toLowerCase(Locale.ROOT);
    return n.endsWith(".") ? n.substring(0, n.length() - 1) : n;
  }

  /** Why {@code name} (normalized) is not a host name, or {@code null}. */
  private static String nameProblem(String name) {
    if (name.isEmpty()) {
      return "the host name is empty";
    }
    if (name.length() > 253) {
      return "the host name is longer than 253 characters";
    }
    for (String label : name.split("\\.", -1)) {
      if (label.isEmpty()) {
        return "the host name has an empty label";
      }
      if (label.length() > 63) {
        return "the label '" + label + "' is longer than 63 characters";
      }
      if (label.startsWith("-") || label.endsWith("-")) {
        return "the label '" + label + "' starts or ends with '-'";
      }
      for (int i = 0; i < label.length(); i++) {
        char c = label.charAt(i);
        if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_')) {
          return "'" + c + "' is not allowed in a host name (expected a CIDR range, an IP address, a host name or "
              + "*.suffix)";
        }
      }
    }
    return null;
  }
}
