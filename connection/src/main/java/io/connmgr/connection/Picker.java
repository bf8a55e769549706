package io.connmgr.connection;

/** How {@link ConnectionManager#pick(String)} chooses among the servers of a role. */
public enum Picker {
  /** Each server in turn. */
  ROUND_ROBIN,
  /** Two servers at random, the one with fewer calls in flight. */
  POWER_OF_TWO_CHOICES
}
