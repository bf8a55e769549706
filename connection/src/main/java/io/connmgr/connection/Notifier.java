package io.connmgr.connection;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Calls user code (listeners, watchers) so that one that throws is logged and ignored. Never called under a lock. */
final class Notifier {

  private static final Logger log = LoggerFactory.getLogger(Notifier.class);

  private Notifier() {}

  static void run(Runnable call) {
    try {
      call.run();
    } catch (Throwable t) {
      log.warn("connection listener threw; ignored", t);
    }
  }
}
