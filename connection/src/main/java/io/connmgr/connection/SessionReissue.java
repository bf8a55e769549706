package io.connmgr.connection;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.ForkJoinPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The re-issuing interceptor of {@code session:///} channels ({@link SessionNameResolverProvider#reissuing}): each
 * call is a {@link ReissuingCall} whose attempts go through the channel, so its balancer picks the server; the attempt
 * lands on the server its stream is created on (the address slot in the transport's attributes, as the fail-fast
 * interceptor does), and a re-issued attempt carries the call in its options so that {@link SessionBalancer}'s picker
 * never picks a server the call tried.
 *
 * <p><b>Threading.</b> Thread-safe; one per channel (its budget is the channel's).
 */
final class SessionReissue implements ClientInterceptor {

  private static final Logger log = LoggerFactory.getLogger(SessionReissue.class);

  private final ReissuePolicy policy;
  private final RetryBudget budget;

  SessionReissue(ReissuePolicy policy) {
    this.policy = policy;
    this.budget = new RetryBudget(policy.budgetRatio(), policy.budgetPerSecond(), System::nanoTime);
  }

  @Override
  public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
    budget.deposit();
    return new ReissuingCall<>(new Route(next), method, options);
  }

  /** The route of one call: through {@code next}, the channel. */
  private final class Route implements ReissuingCall.Route {
    private final Channel next;

    Route(Channel next) {
      this.next = next;
    }

    @Override
    public ReissuePolicy policy() {
      return policy;
    }

    @Override
    public RetryBudget budget() {
      return budget;
    }

    @Override
    public <Q, R> ClientCall<Q, R> newCall(ReissuingCall<Q, R> call, ReissuingCall<Q, R>.Attempt a,
        CallOptions options, Metadata h) {
      CallOptions o = options.withStreamTracerFactory(a.landingProbe(SessionNameResolverProvider::serverOf));
      if (call.triedAny()) {
        o = o.withOption(SessionNameResolverProvider.TRIED, call);
      }
      return next.newCall(call.method, o);
    }

    @Override
    public void track(ReissuingCall<?, ?>.Attempt a) {
      // tracked when its stream lands on a server's transport
    }

    @Override
    public <Q, R> ClientCall<Q, R> noServer(MethodDescriptor<Q, R> method, CallOptions options, Status refused) {
      Status s = refused != null ? refused : Status.UNAVAILABLE.withDescription("no server can take the call");
      return FailingCall.of(s, options, ForkJoinPool.commonPool()); // not reached: the balancer decides
    }

    @Override
    public void reissued(CallTracker from, CallTracker to, MethodDescriptor<?, ?> method, Status cause) {
      log.debug("call {} on {} re-issued: {}", method.getFullMethodName(), from == null ? "?" : from.server, cause);
    }

    @Override
    public void budgetExhausted(CallTracker from, MethodDescriptor<?, ?> method) {
      log.debug("call {} on {} not re-issued: the re-issue budget is spent", method.getFullMethodName(),
          from == null ? "?" : from.server);
    }
  }
}
