package io.connmgr.discovery;

import java.util.List;

/**
 * The valid sessions under the prefix at one revision, sorted by key. Immutable and thread-safe.
 *
 * @param revision the backend revision the snapshot was read at
 * @param sessions the sessions, sorted by key; unmodifiable
 */
public record SessionSnapshot(long revision, List<Session> sessions) {

  /** Copies. */
  public SessionSnapshot {
    sessions = List.copyOf(sessions);
  }
}
