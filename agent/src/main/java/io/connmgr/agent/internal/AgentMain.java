package io.connmgr.agent.internal;

import static net.bytebuddy.matcher.ElementMatchers.declaresField;
import static net.bytebuddy.matcher.ElementMatchers.isConstructor;
import static net.bytebuddy.matcher.ElementMatchers.nameContains;
import static net.bytebuddy.matcher.ElementMatchers.nameEndsWith;
import static net.bytebuddy.matcher.ElementMatchers.nameStartsWith;
import static net.bytebuddy.matcher.ElementMatchers.named;
import static net.bytebuddy.matcher.ElementMatchers.not;
import static net.bytebuddy.matcher.ElementMatchers.takesArgument;
import static net.bytebuddy.matcher.ElementMatchers.takesArguments;

import io.connmgr.agent.bootstrap.Hooks;
import io.connmgr.agent.internal.log.AgentLogger;
import io.connmgr.discovery.Discovery;
import java.lang.instrument.Instrumentation;
import java.net.InetAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import net.bytebuddy.agent.builder.AgentBuilder;
import net.bytebuddy.asm.Advice;
import net.bytebuddy.description.type.TypeDescription;
import net.bytebuddy.dynamic.DynamicType;
import net.bytebuddy.matcher.ElementMatcher;
import net.bytebuddy.matcher.ElementMatchers;
import net.bytebuddy.utility.JavaModule;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the agent inside its own class loader: reads the configuration, weaves the channel-builder advice into
 * grpc-java in every class loader that has it, and installs the {@link ChannelHook}.
 *
 * <p><b>Threading.</b> {@link #start} runs on the thread that loads the agent and returns once the advice is
 * installed; it never waits for etcd. With {@code roles} or {@code targets} configured, a daemon thread connects to
 * etcd and reads those roles meanwhile, so that the application's first channel finds the connection up.
 */
public final class AgentMain {

  private AgentMain() {}

  /**
   * Starts the agent.
   *
   * @throws IllegalArgumentException with one line naming the key, for a bad configuration (premain reports it and
   *     the application runs without the agent; attach reports it to the attaching command)
   */
  public static void start(String options, Instrumentation inst, boolean attached) {
    long t0 = System.nanoTime();
    AgentConfig config = AgentConfig.load(options, System.getenv());
    AgentLogger.setLevel(config.log());
    Logger log = LoggerFactory.getLogger(AgentMain.class);
    if (!config.enabled()) {
      log.info("disabled (enabled=false)");
      return;
    }
    ChannelHook hook = new ChannelHook(config, AgentMain.class.getClassLoader());
    Hooks.install(hook);
    install(inst, log, attached);
    log.info("started{} in {} ms: {}", attached ? " (attached)" : "", (System.nanoTime() - t0) / 1_000_000,
        config.describe());
    // java.net.InetAddress initialized here, on the thread that loads the agent, before any thread of ours runs:
    // on JDK 17 a thread initializing InetAddress (it loads libnet) while another loads a native library whose
    // JNI_OnLoad needs InetAddress (Netty's epoll, in the application) deadlock on the JDK's native-library lock
    InetAddress.getLoopbackAddress();
    if (!config.roles().isEmpty() || !config.targets().isEmpty()) {
      // connect to etcd while the application starts, not when its first channel asks
      Thread warm = new Thread(() -> warmUp(hook, config, log), "connmgr-agent-warmup");
      warm.setDaemon(true);
      warm.setContextClassLoader(AgentMain.class.getClassLoader());
      warm.start();
    }
  }

  private static void warmUp(ChannelHook hook, AgentConfig config, Logger log) {
    Discovery d = hook.discovery();
    java.util.Set<String> roles = new java.util.TreeSet<>(config.roles());
    roles.addAll(config.targets().values());
    for (String role : roles) {
      d.snapshot(role).whenComplete((s, e) -> {
        if (e != null) {
          log.warn("etcd not reachable yet for role {}: {}", role, e.getMessage());
        } else {
          log.info("role {}: {} session(s) at revision {}", role, s.sessions().size(), s.revision());
        }
      });
    }
  }

  private static void install(Instrumentation inst, Logger log, boolean attached) {
    Map<ClassLoader, Boolean> hasGrpc = new ConcurrentHashMap<>();
    ClassLoader world = AgentMain.class.getClassLoader();
    // the application's class loaders that have gRPC; never the agent's world (jetcd's own grpc-java stays as is)
    ElementMatcher<ClassLoader> grpcLoaders = cl -> cl != null && cl != world
        && hasGrpc.computeIfAbsent(cl, l -> l.getResource("io/grpc/ManagedChannelBuilder.class") != null);
    new AgentBuilder.Default()
        .disableClassFormatChanges()
        // attached to a running JVM, grpc-java may be loaded already: retransform it; at premain nothing is
        .with(attached ? AgentBuilder.RedefinitionStrategy.RETRANSFORMATION
            : AgentBuilder.RedefinitionStrategy.DISABLED)
        .with(AgentBuilder.InitializationStrategy.NoOp.INSTANCE)
        .with(AgentBuilder.TypeStrategy.Default.DECORATE)
        .with(new AgentBuilder.Listener.Adapter() {
          @Override
          public void onError(String typeName, ClassLoader cl, JavaModule module, boolean loaded, Throwable t) {
            log.warn("cannot weave {} (its channels work as without the agent): {}", typeName, t.toString());
          }

          @Override
          public void onTransformation(TypeDescription type, ClassLoader cl, JavaModule module, boolean loaded,
              DynamicType dynamicType) {
            log.debug("woven into {} in {}", type.getName(), cl);
          }
        })
        // as the OpenTelemetry agent does: the ManagedChannelBuilder that holds the interceptors (grpc-core's
        // ManagedChannelImplBuilder, to which NettyChannelBuilder and Grpc.newChannelBuilder delegate); the name
        // filter first keeps the matcher from resolving the hierarchy of every class the application loads
        .type(nameStartsWith("io.grpc.").and(nameEndsWith("Builder")).and(not(nameContains(".shaded.")))
            .and(ElementMatchers.<TypeDescription>hasSuperType(named("io.grpc.ManagedChannelBuilder")))
            .and(declaresField(named("interceptors")))
            .and(declaresField(named("target"))), grpcLoaders)
        .transform((builder, type, cl, module, pd) -> builder
            .visit(Advice.to(ChannelAdvice.Target.class).on(isConstructor().and(takesArgument(0, String.class))))
            .visit(Advice.to(ChannelAdvice.Build.class).on(named("build").and(takesArguments(0)))))
        .installOn(inst);
  }
}
