package io.connmgr.connection;

import io.grpc.Attributes;
import io.grpc.ConnectivityState;
import io.grpc.LoadBalancer;
import io.grpc.LoadBalancerProvider;
import io.grpc.LoadBalancerRegistry;
import io.grpc.Status;
import io.grpc.util.ForwardingLoadBalancerHelper;
import io.grpc.util.ForwardingSubchannel;

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
      delegate = rr.newLoadBalancer(new ExcludingHelper());
    }
    return delegate.acceptResolvedAddresses(addresses.toBuilder().setLoadBalancingPolicyConfig(null).build());
  }

  private void fail(Status status) {
    PickResult result = PickResult.withError(status.getCause() == null ? status.withCause(ReissuingCall.NO_SERVER)
        : status);
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

  /**
   * round_robin's helper: its subchannels carry the address slot they were created for, and its pickers skip the
   * servers a re-issued call tried ({@link SessionNameResolverProvider#TRIED} in the call's options).
   */
  private final class ExcludingHelper extends ForwardingLoadBalancerHelper {
    @Override
    protected Helper delegate() {
      return helper;
    }

    @Override
    public Subchannel createSubchannel(CreateSubchannelArgs args) {
      Subchannel sc = helper.createSubchannel(args);
      SessionNameResolverProvider.AddressSlot slot = args.getAddresses().isEmpty() ? null
          : args.getAddresses().get(0).getAttributes().get(SessionNameResolverProvider.SLOT);
      return slot == null ? sc : new SlotSubchannel(sc, slot);
    }

    @Override
    public void updateBalancingState(ConnectivityState state, SubchannelPicker picker) {
      helper.updateBalancingState(state, new ExcludingPicker(picker));
    }
  }

  /** A subchannel and the address slot it was created for (readable from a picker on any thread). */
  private static final class SlotSubchannel extends ForwardingSubchannel {
    private final Subchannel delegate;
    final SessionNameResolverProvider.AddressSlot slot;

    SlotSubchannel(Subchannel delegate, SessionNameResolverProvider.AddressSlot slot) {
      this.delegate = delegate;
      this.slot = slot;
    }

    @Override
    protected Subchannel delegate() {
      return delegate;
    }
  }

  /** Picks again, a bounded number of times, while round_robin picks a server the call tried. */
  private static final class ExcludingPicker extends SubchannelPicker {
    private final SubchannelPicker delegate;

    ExcludingPicker(SubchannelPicker delegate) {
      this.delegate = delegate;
    }

    @Override
    public PickResult pickSubchannel(PickSubchannelArgs args) {
      PickResult r = delegate.pickSubchannel(args);
      ReissuingCall<?, ?> call = args.getCallOptions().getOption(SessionNameResolverProvider.TRIED);
      if (call == null || !tried(r, call)) {
        return r;
      }
      for (int i = 0; i < 2 * ReissuePolicy.MAX_ATTEMPTS; i++) {
        r = delegate.pickSubchannel(args);
        if (!tried(r, call)) {
          return r;
        }
      }
      return PickResult.withError(Status.UNAVAILABLE.withDescription("every server the balancer can pick was tried")
          .withCause(ReissuingCall.NO_SERVER));
    }

    private static boolean tried(PickResult r, ReissuingCall<?, ?> call) {
      return r.getSubchannel() instanceof SlotSubchannel s && call.hasTried(s.slot.current);
    }

    @Override
    public String toString() {
      return "excluding(" + delegate + ")";
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
