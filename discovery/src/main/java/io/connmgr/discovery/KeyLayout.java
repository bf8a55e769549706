package io.connmgr.discovery;

import java.util.Objects;

/**
 * Where sessions live in the key space. Immutable and thread-safe. Defaults are Milvus': sessions under
 * {@code by-dev/meta/session/}; a server at {@code <root><role>-<serverId>}; the active server of an exclusive role
 * also at {@code <root><role>}; the id counter at {@code <root>id}, which holds a plain decimal and is never a session.
 *
 * @param root      the session prefix; must end with {@code /}
 * @param counterKey the name (under root) of the server-id counter
 */
public record KeyLayout(String root, String counterKey) {

  /** Milvus' default root. */
  public static final String DEFAULT_ROOT = "by-dev/meta/session/";

  /** Milvus' layout. */
  public static final KeyLayout MILVUS = new KeyLayout(DEFAULT_ROOT, "id");

  /**
   * Validates.
   *
   * @throws IllegalArgumentException naming the field ({@code root} or {@code counterKey})
   */
  public KeyLayout {
    Objects.requireNonNull(root, "root");
    Objects.requireNonNull(counterKey, "counterKey");
    if (root.isBlank()) {
      throw new IllegalArgumentException("root: the session prefix must not be empty");
    }
    if (!root.endsWith("/")) {
      throw new IllegalArgumentException("root: the session prefix must end with '/': '" + root + "'");
    }
    if (counterKey.isEmpty() || counterKey.contains("/")) {
      throw new IllegalArgumentException("counterKey: must be a non-empty name without '/': '" + counterKey + "'");
    }
  }

  /** A layout with Milvus' counter key under another root. */
  public static KeyLayout withRoot(String root) {
    return new KeyLayout(root, "id");
  }

  /** {@code <root><role>-<serverId>}. */
  public String sessionKey(String role, long serverId) {
    return root + role + "-" + serverId;
  }

  /** {@code <root><role>}: the key naming the active server of an exclusive role. */
  public String activeKey(String role) {
    return root + role;
  }

  /** {@code <root><counterKey>}. */
  public String counterKeyPath() {
    return root + counterKey;
  }

  /** Whether {@code key} is the id counter. */
  public boolean isCounter(String key) {
    return key.length() == root.length() + counterKey.length() && key.startsWith(root) && key.endsWith(counterKey);
  }

  /** Whether {@code key} is the active key of {@code session}'s role. */
  public boolean isActiveKey(String key, Session session) {
    return key.length() == root.length() + session.role().length() && key.startsWith(root)
        && key.endsWith(session.role());
  }
}
