package io.connmgr.discovery.internal;

import io.connmgr.discovery.KeyLayout;
import java.util.Set;

/**
 * Which roles a subscription wants, tested first on the key (before the value is decoded) and then on the decoded
 * session's role. Immutable and thread-safe.
 *
 * <p>The key test is conservative: a key is skipped only when it has the layout's shape
 * {@code <root><role>-<digits>} or {@code <root><role>} for a role that is not wanted. A key of any other shape is
 * decoded and kept or dropped by the role its value names, as before.
 */
public final class RoleFilter {

  /** Every role. */
  public static final RoleFilter ALL = new RoleFilter(Set.of());

  private final Set<String> roles;
  private final String[] array;

  private RoleFilter(Set<String> roles) {
    this.roles = Set.copyOf(roles);
    this.array = this.roles.toArray(new String[0]);
  }

  /** One role, or every role if {@code role} is {@code null}. */
  public static RoleFilter of(String role) {
    return role == null ? ALL : new RoleFilter(Set.of(role));
  }

  /** These roles; every role if the set is empty. */
  public static RoleFilter of(Set<String> roles) {
    return roles.isEmpty() ? ALL : new RoleFilter(roles);
  }

  /** Whether every role passes. */
  public boolean all() {
    return array.length == 0;
  }

  /** Whether a session of {@code role} passes. */
  public boolean accepts(String role) {
    return array.length == 0 || roles.contains(role);
  }

  /** A short description for thread and log names: {@code *} or the roles joined by commas. */
  public String describe() {
    return array.length == 0 ? "*" : String.join(",", roles);
  }

  /**
   * Whether the value at {@code key} must be decoded: {@code false} only when the key's shape names a role that does
   * not pass. Allocates nothing for up to eight roles.
   */
  public boolean acceptsKey(KeyLayout layout, String key) {
    if (array.length == 0) {
      return true;
    }
    String root = layout.root();
    if (!key.startsWith(root)) {
      return true; // not a session key at all; decoding rejects it
    }
    int from = root.length();
    int dash = key.lastIndexOf('-');
    boolean idShape = dash > from && dash < key.length() - 1 && digitsFrom(key, dash + 1);
    if (array.length <= 8) {
      for (String r : array) {
        if (key.startsWith(r, from)) {
          int end = from + r.length();
          if (end == key.length() || (idShape && end == dash)) {
            return true;
          }
        }
      }
    } else {
      if (roles.contains(key.substring(from)) || (idShape && roles.contains(key.substring(from, dash)))) {
        return true;
      }
    }
    // a key below a deeper path has neither shape: decode it and judge by its value
    return key.indexOf('/', from) >= 0;
  }

  private static boolean digitsFrom(String s, int i) {
    for (; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        return false;
      }
    }
    return true;
  }
}
