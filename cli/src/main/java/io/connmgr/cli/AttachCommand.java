package io.connmgr.cli;

import io.connmgr.agent.Attach;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code connmgr attach PID}: loads the connmgr agent into a running JVM. */
@Command(name = "attach", mixinStandardHelpOptions = true,
    description = {"Load the connmgr agent into a running JVM: channels it builds from then on to session:///<role>"
        + " targets and to mapped targets are managed by connmgr; channels built before are left as they are.",
        "The options are the agent's (see the README's agent section); they are checked before attaching."})
final class AttachCommand implements Callable<Integer> {

  @Parameters(index = "0", paramLabel = "PID", description = "the process id of the JVM")
  String pid;

  @Option(names = "--etcd", paramLabel = "URLS", description = "etcd client URLs, comma-separated")
  String etcd;

  @Option(names = "--root", paramLabel = "PREFIX", description = "the session prefix")
  String root;

  @Option(names = "--target", paramLabel = "HOST:PORT=ROLE",
      description = "reroute channels to HOST:PORT to the live sessions of ROLE (repeatable)")
  List<String> targets = new ArrayList<>();

  @Option(names = "--roles", paramLabel = "ROLES", description = "roles to watch from the start, comma-separated")
  String roles;

  @Option(names = "--options", paramLabel = "KEY=VALUE;...",
      description = "further agent options (log, retry.initial, retry.max, config, ...)")
  String options;

  @Mixin
  EtcdSecurity security = new EtcdSecurity();

  @Option(names = "--agent-jar", paramLabel = "PATH",
      description = "the agent jar (default: the one this build made, agent/target/connmgr-agent.jar)")
  Path agentJar;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (!pid.matches("[0-9]+")) {
      throw new IllegalArgumentException("PID must be a process id, was '" + pid + "'");
    }
    List<String> parts = new ArrayList<>();
    add(parts, "etcd", etcd);
    add(parts, "root", root);
    add(parts, "roles", roles);
    add(parts, "targets", targets.isEmpty() ? null : String.join(",", targets));
    parts.addAll(security.agentOptions()); // the password travels only as a file name (or the JVM's own environment)
    if (options != null && !options.isBlank()) {
      parts.add(options);
    }
    String agentOptions = String.join(";", parts);
    Path jar = agentJar != null ? agentJar
        : Path.of(System.getProperty("connmgr.agent.jar", "agent/target/connmgr-agent.jar"));
    try {
      Attach.attach(pid, jar, agentOptions);
    } catch (IllegalArgumentException e) {
      throw e; // a bad option or a missing jar: exit 2
    } catch (Exception e) {
      throw new CliException("cannot attach to JVM " + pid + ": " + Errors.oneLine(e));
    }
    PrintWriter out = spec.commandLine().getOut();
    out.println("connmgr agent loaded into JVM " + pid + ": channels it builds from now on to session:///<role> targets"
        + (targets.isEmpty() ? "" : " and to " + String.join(", ", targets)) + " are managed by connmgr;"
        + " channels built before are unchanged. The agent logs to that JVM's stderr as [connmgr-agent].");
    out.flush();
    return 0;
  }

  private static void add(List<String> parts, String key, String value) {
    if (value != null && !value.isBlank()) {
      parts.add(key + "=" + value);
    }
  }
}
