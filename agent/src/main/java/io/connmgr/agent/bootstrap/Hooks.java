package io.connmgr.agent.bootstrap;

import java.util.List;

/**
 * What the advice woven into grpc-java's channel builder calls. This class is on the bootstrap class path (the agent
 * jar is appended to it), so that code in any class loader that has gRPC can reach it; it uses JDK types only and
 * hands each call to the {@link Handler} the agent installed, from the agent's own class loader.
 *
 * <p><b>Threading.</b> Thread-safe; called on the application's threads, wherever it builds channels. Never throws:
 * a failure inside the agent leaves the channel as the application built it.
 */
public final class Hooks {

  /** The agent's side of the hooks. */
  public interface Handler {

    /** The target a channel builder should use instead of {@code target}, or {@code target} itself. */
    String target(String target);

    /** Called once or more per builder, as its {@code build()} starts. */
    void onBuild(Object builder, String target, List<Object> interceptors);
  }

  private static volatile Handler handler;

  private Hooks() {}

  /** Installs the handler; {@code null} turns the hooks off. */
  public static void install(Handler h) {
    handler = h;
  }

  /** See {@link Handler#target}; {@code target} unchanged without a handler or if it fails. */
  public static String target(String target) {
    Handler h = handler;
    if (h == null || target == null) {
      return target;
    }
    try {
      String t = h.target(target);
      return t != null ? t : target;
    } catch (Throwable t) {
      return target;
    }
  }

  /** See {@link Handler#onBuild}; does nothing without a handler or if it fails. */
  public static void onBuild(Object builder, String target, List<Object> interceptors) {
    Handler h = handler;
    if (h == null) {
      return;
    }
    try {
      h.onBuild(builder, target, interceptors);
    } catch (Throwable t) {
      // the channel is built as the application asked
    }
  }
}
