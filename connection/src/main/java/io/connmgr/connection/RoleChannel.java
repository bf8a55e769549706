package io.connmgr.connection;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.MethodDescriptor;
import io.grpc.Status;

/**
 * The channel of a whole role ({@link ConnectionManager#roleChannel}): each call picks a server of the role with the
 * manager's picker when it starts, and is re-issued on another live server by its {@link ReissuingCall} when its
 * server goes, refuses it or loses its connection before it answered, as the {@link ReissuePolicy} allows. One per
 * role and manager, so that the role's {@link RetryBudget} is shared by all its callers.
 *
 * <p><b>Threading.</b> Thread-safe; {@code newCall} never blocks and allocates the call only (the budget's deposit is
 * a {@code LongAdder} increment).
 */
final class RoleChannel extends Channel {

  /** What a role channel needs of its manager. */
  interface Host {
    /** The published view of {@code role}, or {@code null}; any thread, no allocation. */
    RoleView view(String role);

    /** Whether picks prefer the less loaded of two servers. */
    boolean powerOfTwo();

    /** A channel whose calls fail at once with {@code status}. */
    Channel failing(Status status);

    /** Where calls refused at once run their listener when they have no executor of their own. */
    java.util.concurrent.Executor callbacks();

    /** Counts a re-issue and tells the listener (off the caller's thread). */
    void reissued(ServerKey from, ServerKey to, MethodDescriptor<?, ?> method, Status cause);

    /** Counts a re-issue the budget refused and tells the listener (off the caller's thread). */
    void budgetExhausted(String role, ServerKey from, MethodDescriptor<?, ?> method);
  }

  final String role;
  final Host host;
  final ReissuePolicy policy;
  final RetryBudget budget;
  private final Channel none;

  RoleChannel(String role, Host host, ReissuePolicy policy, java.util.function.LongSupplier ticker) {
    this.role = role;
    this.host = host;
    this.policy = policy;
    this.budget = new RetryBudget(policy.budgetRatio(), policy.budgetPerSecond(), ticker);
    this.none = host.failing(Status.UNAVAILABLE.withDescription("no available server of role " + role));
  }

  @Override
  public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
    if (!policy.enabled()) {
      // no re-issue: a pick per call and the server's own tracked call, as pick(role) gives
      RoleView v = host.view(role);
      Server s = v == null ? null : v.pick(host.powerOfTwo());
      return s != null ? s.newCall(method, options) : none.newCall(method, options);
    }
    budget.deposit();
    return new ReissuingCall<>(this, method, options, idempotent(method));
  }

  private boolean idempotent(MethodDescriptor<?, ?> method) {
    return method.isIdempotent() || method.isSafe() || (!policy.idempotentMethods().isEmpty()
        && policy.idempotentMethods().contains(method.getFullMethodName()));
  }

  /** A server of the role for a new call, or {@code null}. */
  Server pick() {
    RoleView v = host.view(role);
    return v == null ? null : v.pick(host.powerOfTwo());
  }

  /** A server of the role not among {@code tried[0..n)}, or {@code null}. */
  Server pickOther(Server[] tried, int n) {
    RoleView v = host.view(role);
    return v == null ? null : v.pickOther(tried, n);
  }

  /** A call that fails at once because the role has no server that can take it. */
  <Q, R> ClientCall<Q, R> noServer(MethodDescriptor<Q, R> method, CallOptions options) {
    return none.newCall(method, options);
  }

  @Override
  public String authority() {
    return role;
  }

  @Override
  public String toString() {
    return "role channel " + role;
  }
}
