package io.connmgr.connection;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.Executor;
import java.util.function.LongSupplier;

/**
 * The channel of a whole role ({@link ConnectionManager#roleChannel}): each call picks a server of the role with the
 * manager's picker when it starts, and is re-issued on another live server by its {@link ReissuingCall} when its
 * server goes, refuses it or loses its connection before it answered, as the {@link ReissuePolicy} allows. One per
 * role and manager, so that the role's {@link RetryBudget} is shared by all its callers.
 *
 * <p><b>Threading.</b> Thread-safe; {@code newCall} never blocks and allocates the call only (the budget's deposit is
 * a {@code LongAdder} increment).
 */
final class RoleChannel extends Channel implements ReissuingCall.Route {

  /** What a role channel needs of its manager. */
  interface Host {
    /** The published view of {@code role}, or {@code null}; any thread, no allocation. */
    RoleView view(String role);

    /** Whether picks prefer the less loaded of two servers. */
    boolean powerOfTwo();

    /** Where calls refused at once run their listener when they have no executor of their own. */
    Executor callbacks();

    /** Counts a re-issue and tells the listener (off the caller's thread). */
    void reissued(ServerKey from, ServerKey to, MethodDescriptor<?, ?> method, Status cause);

    /** Counts a re-issue the budget refused and tells the listener (off the caller's thread). */
    void budgetExhausted(String role, ServerKey from, MethodDescriptor<?, ?> method);
  }

  final String role;
  private final Host host;
  private final ReissuePolicy policy;
  private final RetryBudget budget;
  private final Status none;

  RoleChannel(String role, Host host, ReissuePolicy policy, LongSupplier ticker) {
    this.role = role;
    this.host = host;
    this.policy = policy;
    this.budget = new RetryBudget(policy.budgetRatio(), policy.budgetPerSecond(), ticker);
    this.none = Status.UNAVAILABLE.withDescription("no available server of role " + role);
  }

  @Override
  public <Q, R> ClientCall<Q, R> newCall(MethodDescriptor<Q, R> method, CallOptions options) {
    if (!policy.enabled()) {
      // no re-issue: a pick per call and the server's own tracked call, as pick(role) gives
      RoleView v = host.view(role);
      Server s = v == null ? null : v.pick(host.powerOfTwo());
      return s != null ? s.newCall(method, options) : FailingCall.of(none, options, host.callbacks());
    }
    budget.deposit();
    return new ReissuingCall<>(this, method, options);
  }

  @Override
  public ReissuePolicy policy() {
    return policy;
  }

  @Override
  public RetryBudget budget() {
    return budget;
  }

  /**
   * The first attempt takes the picker's choice; a re-issue the next server not tried yet. A server that refuses
   * calls (stopping, down, removed between publication and pick) is skipped as an attempt that was never sent.
   */
  @Override
  public <Q, R> ClientCall<Q, R> newCall(ReissuingCall<Q, R> call, ReissuingCall<Q, R>.Attempt a,
      CallOptions options, Metadata h) {
    RoleView v = host.view(role);
    if (v == null) {
      return null;
    }
    for (boolean first = !call.triedAny(); ; first = false) {
      Server s = first ? v.pick(host.powerOfTwo()) : v.pickOther(call);
      if (s == null) {
        return null;
      }
      call.tried(s);
      Status refuse = s.refusal;
      if (refuse != null) {
        call.refusedBy(refuse);
        continue;
      }
      ManagedChannel ch;
      try {
        ch = s.channel();
      } catch (RuntimeException e) {
        call.refusedBy(Status.UNAVAILABLE.withDescription("cannot open a channel to " + s.key).withCause(e));
        continue;
      }
      a.tracker = s;
      h.discardAll(CallTracker.SERVER_ID);
      h.put(CallTracker.SERVER_ID, s.header());
      return ch.newCall(call.method, call.idempotent ? options : options.withStreamTracerFactory(a.sentProbe()));
    }
  }

  @Override
  public void track(ReissuingCall<?, ?>.Attempt a) {
    CallTracker s = a.tracker;
    s.add(a);
    Status refuse = s.refusal;
    if (refuse != null) {
      a.failFast(refuse); // removed or stopping as it was tracked: its onClose re-issues it
    }
  }

  @Override
  public <Q, R> ClientCall<Q, R> noServer(MethodDescriptor<Q, R> method, CallOptions options, Status refused) {
    return FailingCall.of(refused != null ? refused : none, options, host.callbacks());
  }

  @Override
  public void reissued(CallTracker from, CallTracker to, MethodDescriptor<?, ?> method, Status cause) {
    host.reissued(from.server, to.server, method, cause);
  }

  @Override
  public void budgetExhausted(CallTracker from, MethodDescriptor<?, ?> method) {
    host.budgetExhausted(role, from.server, method);
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
