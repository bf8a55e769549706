package io.connmgr.connection;

import io.grpc.Status;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * How a reply says "I am a standby, not the active server" (Milvus: {@code not serving, reason: StandBy}). A call
 * through {@link ConnectionManager#active(String)} that ends with one of {@link #codes} and a description containing
 * {@link #message} (ignoring case) makes the manager stop sending to that server as the active one and read the role's
 * active key again.
 *
 * @param codes   the status codes that may carry the signal; not empty
 * @param message text the status description contains; not empty
 */
public record StandbySignal(Set<Status.Code> codes, String message) {

  /** {@code UNAVAILABLE} or {@code FAILED_PRECONDITION} with "standby" in the description. */
  public static final StandbySignal DEFAULT =
      new StandbySignal(Set.of(Status.Code.UNAVAILABLE, Status.Code.FAILED_PRECONDITION), "standby");

  /**
   * Validates and copies.
   *
   * @throws IllegalArgumentException naming the field ({@code standby.<field>})
   */
  public StandbySignal {
    Objects.requireNonNull(codes, "standby.codes");
    Objects.requireNonNull(message, "standby.message");
    if (codes.isEmpty() || codes.contains(Status.Code.OK)) {
      throw new IllegalArgumentException("standby.codes: must be non-empty and not contain OK, was " + codes);
    }
    if (message.isBlank()) {
      throw new IllegalArgumentException("standby.message: must not be blank");
    }
    codes = Set.copyOf(codes);
    message = message.toLowerCase(Locale.ROOT);
  }

  /** Whether {@code status} is this signal. */
  public boolean matches(Status status) {
    String d = status.getDescription();
    return d != null && codes.contains(status.getCode()) && d.toLowerCase(Locale.ROOT).contains(message);
  }
}
