package io.connmgr.cli;

import io.connmgr.discovery.DiscoveryException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;

/** Turns exceptions into one line for the terminal. */
final class Errors {
  private Errors() {}

  static String oneLine(Throwable e) {
    Throwable t = e;
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    String msg;
    if (t instanceof DiscoveryException d) {
      msg = d.getMessage();
    } else if (t instanceof TimeoutException) {
      msg = "timed out";
    } else {
      msg = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }
    // jetcd wraps gRPC statuses: keep the innermost "CODE: description"
    int status = msg.lastIndexOf("StatusRuntimeException: ");
    if (status >= 0) {
      msg = msg.substring(status + "StatusRuntimeException: ".length());
    }
    int nl = msg.indexOf('\n');
    return nl < 0 ? msg : msg.substring(0, nl);
  }
}
