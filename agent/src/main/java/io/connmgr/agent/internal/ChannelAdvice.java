package io.connmgr.agent.internal;

import io.connmgr.agent.bootstrap.Hooks;
import java.util.List;
import net.bytebuddy.asm.Advice;

/**
 * The advice woven into grpc-java's {@code ManagedChannelImplBuilder} (the builder every {@code ManagedChannelBuilder},
 * {@code NettyChannelBuilder} and {@code Grpc.newChannelBuilder} delegates to). Its code is copied into grpc-java's
 * class, so it may only use JDK types, the builder's own fields and {@link Hooks} on the bootstrap class path.
 */
final class ChannelAdvice {

  private ChannelAdvice() {}

  /** On the builder's constructors that take a target string: a mapped target becomes a {@code session} target. */
  static final class Target {
    private Target() {}

    @Advice.OnMethodEnter
    static void enter(@Advice.Argument(value = 0, readOnly = false) String target) {
      target = Hooks.target(target);
    }
  }

  /** On {@code build()}: a channel to a {@code session} target gets connmgr's call tracking, once per builder. */
  static final class Build {
    private Build() {}

    @Advice.OnMethodEnter(suppress = Throwable.class)
    @SuppressWarnings({"unchecked", "rawtypes"})
    static void enter(@Advice.This Object builder, @Advice.FieldValue("target") String target,
        @Advice.FieldValue("interceptors") List interceptors) {
      Hooks.onBuild(builder, target, interceptors);
    }
  }
}
