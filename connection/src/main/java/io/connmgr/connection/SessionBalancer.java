package io.connmgr.connection;

import io.grpc.Attributes;
import io.grpc.ConnectivityState;
import io.grpc.LoadBalancer;
import io.grpc.LoadBalancerProvider;
import io.grpc.LoadBalancerRegistry;
import io.grpc.Status;

/**
 * round_robin for {@code session:///} channels, except that a resolution with no address (the role has no live
 * session) fails picks at once with the resolver's status instead of keeping the servers it had: grpc-java's
 * round_robin ignores an empty address list while it is READY, so new calls would still reach a deregistered server.
 * The next non-empty resolution starts a fresh round_robin.
 *
 * <p><b>Threading.</b> As every grpc-java balancer: called on the channel's synchronization context only.
 */
final class SessionBalancer extends LoadBalancer {

  /** The key of the status naming why a resolution has no address, in its attributes. */
  static final Attributes.Key<Status> NO_ADDRESS = Attributes.Key.create("connmgr.session.none");

  private final Helper helper;
  private LoadBalancer delegate;

  private SessionBalancer(Helper helper) {
    this.helper = helper;
  }

  /** Registers the policy in grpc-java's default balancer registry, once per copy of grpc-java. */
  static void register() {
    LoadBalancerRegistry registry = LoadBalancerRegistry.getDefaultRegistry();
    synchronized (registry) {
      if (registry.getProvider(SessionNameResolverProvider.POLICY) == null) {
        registry.register(new Provider());
      }
    }
  }

  @Override
  public Status acceptResolvedAddresses(ResolvedAddresses addresses) {
    if (addresses.getAddresses().isEmpty()) {
      if (delegate != null) {
        delegate.shutdown(); // its subchannels go: nothing may keep using a server that has no session
        delegate = null;
      }
      Status why = addresses.getAttributes().get(NO_ADDRESS);
      fail(why != null ? why : Status.UNAVAILABLE.withDescription("no live session"));
      return Status.OK;
    }
    if (delegate == null) {
      LoadBalancerProvider rr = LoadBalancerRegistry.getDefaultRegistry().getProvider("round_robin");
      if (rr == null) {
        Status s = Status.INTERNAL.withDescription("grpc-java has no round_robin balancer");
        fail(s);
        return s;
      }
      delegate = rr.newLoadBalancer(helper);
    }
    return delegate.acceptResolvedAddresses(addresses.toBuilder().setLoadBalancingPolicyConfig(null).build());
  }

  private void fail(Status status) {
    PickResult result = PickResult.withError(status);
    helper.updateBalancingState(ConnectivityState.TRANSIENT_FAILURE, new SubchannelPicker() {
      @Override
      public PickResult pickSubchannel(PickSubchannelArgs args) {
        return result;
      }

      @Override
      public String toString() {
        return "fail(" + status + ")";
      }
    });
  }

  @Override
  public void handleNameResolutionError(Status error) {
    if (delegate != null) {
      delegate.handleNameResolutionError(error);
    } else {
      fail(error);
    }
  }

  @Override
  public boolean canHandleEmptyAddressListFromNameResolution() {
    return true;
  }

  @Override
  public void requestConnection() {
    if (delegate != null) {
      delegate.requestConnection();
    }
  }

  @Override
  public void shutdown() {
    if (delegate != null) {
      delegate.shutdown();
      delegate = null;
    }
  }

  private static final class Provider extends LoadBalancerProvider {
    @Override
    public boolean isAvailable() {
      return true;
    }

    @Override
    public int getPriority() {
      return 5;
    }

    @Override
    public String getPolicyName() {
      return SessionNameResolverProvider.POLICY;
    }

    @Override
    public LoadBalancer newLoadBalancer(Helper helper) {
      return new SessionBalancer(helper);
    }
  }
}
