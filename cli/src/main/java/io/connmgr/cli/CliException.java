package io.connmgr.cli;

/** A failure the CLI reports as one line and exit code 1. */
final class CliException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  CliException(String message) {
    super(message);
  }
}
