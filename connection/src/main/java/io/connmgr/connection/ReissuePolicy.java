package io.connmgr.connection;

import java.util.Objects;
import java.util.Set;

/**
 * How a {@link ConnectionManager#roleChannel role channel} re-issues a call on another live server of its role when the
 * server it was sent to goes (deregistered, lease expired), refuses it (stopping, down, offline) or loses its
 * connection, before any response header or message has reached the application. Immutable.
 *
 * <ul>
 *   <li>A call the server never processed (never sent; refused stream; a GOAWAY that did not cover it; the connection
 *       failed before its headers were written) is re-issued for every method.
 *   <li>A call already sent is re-issued only when its method is idempotent or safe
 *       ({@link io.grpc.MethodDescriptor#isIdempotent()} / {@link io.grpc.MethodDescriptor#isSafe()}, set by
 *       protoc-gen-grpc-java from the proto's {@code idempotency_level}) or named in {@code idempotentMethods}
 *       (full method names, {@code package.Service/Method}), and only when it ended with {@code UNAVAILABLE} (the
 *       connection failed, or connmgr failed it because its server went) or a {@code CANCELLED} the application did
 *       not ask for (a server that resets its streams as it shuts down).
 * </ul>
 *
 * <p>Bounds: at most {@code maxAttempts} servers per call (the first included; never the same server twice), never past
 * the call's deadline, and a budget per role: re-issues in any 10-second window may not exceed
 * {@code budgetRatio} × the calls started in that window plus {@code budgetPerSecond} × 10 (Finagle's retry budget,
 * grpc's {@code retryThrottling} in spirit), so a failing cluster gets no retry storm. A call that is not re-issued
 * fails with the status it had: it names the server and the reason.
 *
 * <p>Request messages are kept by reference (never copied) until the call commits to a server — its first response
 * header or message — or more than {@code maxReplayMessages} were sent (a long client stream then stays on its server).
 * Unary and server-streaming calls keep one message.
 *
 * <p><b>Defaults</b> ({@link #DEFAULT}): 3 attempts, 20% of calls plus 10 re-issues per second, 32 messages, no method
 * named. {@link #DISABLED}: 1 attempt, so nothing is re-issued.
 *
 * @param maxAttempts        servers tried per call at most, the first included; 1 disables re-issue
 * @param budgetRatio        re-issues allowed per call started in the role, over a sliding 10-second window
 * @param budgetPerSecond    re-issues allowed per second in the role whatever the traffic
 * @param maxReplayMessages  request messages kept for replay per call; a call that sends more is not re-issued
 * @param idempotentMethods  full method names treated as idempotent beyond those their descriptor marks
 */
public record ReissuePolicy(int maxAttempts, double budgetRatio, int budgetPerSecond, int maxReplayMessages,
    Set<String> idempotentMethods) {

  /** The most attempts a policy may allow. */
  public static final int MAX_ATTEMPTS = 10;

  /** The defaults described above. */
  public static final ReissuePolicy DEFAULT = new ReissuePolicy(3, 0.2, 10, 32, Set.of());

  /** Nothing is re-issued: a role channel fails a call as {@link ConnectionManager#pick} channels do. */
  public static final ReissuePolicy DISABLED = new ReissuePolicy(1, 0.2, 10, 32, Set.of());

  /**
   * Validates each field and copies the set.
   *
   * @throws IllegalArgumentException naming the field
   */
  public ReissuePolicy {
    if (maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS) {
      throw new IllegalArgumentException("reissue.maxAttempts: must be in [1, " + MAX_ATTEMPTS + "], was "
          + maxAttempts);
    }
    if (!(budgetRatio >= 0 && budgetRatio <= 10)) {
      throw new IllegalArgumentException("reissue.budgetRatio: must be in [0, 10], was " + budgetRatio);
    }
    if (budgetPerSecond < 0) {
      throw new IllegalArgumentException("reissue.budgetPerSecond: must not be negative, was " + budgetPerSecond);
    }
    if (maxReplayMessages < 1) {
      throw new IllegalArgumentException("reissue.maxReplayMessages: must be at least 1, was " + maxReplayMessages);
    }
    Objects.requireNonNull(idempotentMethods, "reissue.idempotentMethods");
    for (String m : idempotentMethods) {
      if (m == null || m.indexOf('/') <= 0 || m.endsWith("/")) {
        throw new IllegalArgumentException("reissue.idempotentMethods: '" + m
            + "' is not a full method name like package.Service/Method");
      }
    }
    idempotentMethods = Set.copyOf(idempotentMethods);
  }

  /** Whether calls are re-issued at all. */
  public boolean enabled() {
    return maxAttempts > 1;
  }

  /** A copy with another number of attempts. */
  public ReissuePolicy withMaxAttempts(int attempts) {
    return new ReissuePolicy(attempts, budgetRatio, budgetPerSecond, maxReplayMessages, idempotentMethods);
  }

  /** A copy with another budget. */
  public ReissuePolicy withBudget(double ratio, int perSecond) {
    return new ReissuePolicy(maxAttempts, ratio, perSecond, maxReplayMessages, idempotentMethods);
  }

  /** A copy with another replay bound. */
  public ReissuePolicy withMaxReplayMessages(int messages) {
    return new ReissuePolicy(maxAttempts, budgetRatio, budgetPerSecond, messages, idempotentMethods);
  }

  /** A copy that also treats these methods ({@code package.Service/Method}) as idempotent. */
  public ReissuePolicy withIdempotentMethods(String... fullMethodNames) {
    Set<String> all = new java.util.HashSet<>(idempotentMethods);
    all.addAll(java.util.Arrays.asList(fullMethodNames));
    return new ReissuePolicy(maxAttempts, budgetRatio, budgetPerSecond, maxReplayMessages, all);
  }
}
