package io.connmgr.discovery;

/**
 * A live subscription to session changes. Thread-safe. {@link #close()} does not block and is idempotent; after it
 * returns, at most the event being delivered at that moment still reaches the listener.
 */
public interface Subscription extends AutoCloseable {

  /** The revision of the last change delivered to the listener (0 before the initial snapshot). */
  long revision();

  /** Stops delivery and releases the backend watch. */
  @Override
  void close();
}
