package io.connmgr.agent;

import com.sun.tools.attach.AgentInitializationException;
import com.sun.tools.attach.VirtualMachine;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Loads the agent into a running JVM: {@code ./connmgr attach PID [options]}, or
 * {@code java -jar connmgr-agent.jar PID [options]}. Channels the application builds after that are managed;
 * channels it built before are left as they are.
 *
 * <p><b>Threading.</b> {@link #attach} blocks the calling thread until the target JVM has run the agent's
 * {@code agentmain} (typically well under a second).
 */
public final class Attach {

  private Attach() {}

  /**
   * Attaches to {@code pid} and loads {@code agentJar} with {@code options}.
   *
   * @throws IllegalArgumentException if the jar is missing, or the agent refused the options (its message says why)
   * @throws Exception                if the JVM cannot be attached to (no such process, another user's...)
   */
  public static void attach(String pid, Path agentJar, String options) throws Exception {
    if (!Files.isRegularFile(agentJar)) {
      throw new IllegalArgumentException("agent jar not found: " + agentJar);
    }
    ConnmgrAgent.checkOptions(agentJar, options);
    VirtualMachine vm = VirtualMachine.attach(pid);
    try {
      vm.loadAgent(agentJar.toAbsolutePath().toString(), options);
    } catch (AgentInitializationException e) {
      throw new IllegalArgumentException("the agent did not start in JVM " + pid + ": " + e.getMessage(), e);
    } finally {
      vm.detach();
    }
  }

  /** {@code java -jar connmgr-agent.jar PID [options]}. */
  public static void main(String[] args) throws Exception {
    if (args.length < 1 || args.length > 2) {
      System.err.println("usage: java -jar connmgr-agent.jar PID [options]");
      System.exit(2);
    }
    Path jar = Path.of(Attach.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    attach(args[0], jar, args.length > 1 ? args[1] : null);
    System.out.println("connmgr agent loaded into JVM " + args[0] + "; channels it builds from now on are managed");
  }
}
