package io.connmgr.cli;

import java.io.PrintWriter;
import org.slf4j.bridge.SLF4JBridgeHandler;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code connmgr}: the command-line tool. Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error. */
@Command(name = "connmgr", mixinStandardHelpOptions = true, version = "connmgr 0.1.0",
    description = "Client-side gRPC connection manager driven by etcd sessions.",
    subcommands = {DemoCommand.class, SessionsCommand.class, ClusterCommand.class, WatchCommand.class,
        AttachCommand.class})
public final class Main implements Runnable {

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    // grpc-java logs through java.util.logging: send it to SLF4J so the CLI's stderr stays one line per problem
    SLF4JBridgeHandler.removeHandlersForRootLogger();
    SLF4JBridgeHandler.install();
    System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
  }

  /** Runs the tool with the given streams and returns its exit code. */
  public static int run(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cl = new CommandLine(new Main());
    cl.setOut(out);
    cl.setErr(err);
    cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
      cmd.getErr().println("connmgr: " + Errors.oneLine(e));
      return e instanceof IllegalArgumentException ? 2 : 1;
    });
    cl.setParameterExceptionHandler((e, a) -> {
      CommandLine cmd = e.getCommandLine();
      cmd.getErr().println("connmgr: " + e.getMessage() + " (see '" + cmd.getCommandSpec().qualifiedName()
          + " --help')");
      return 2;
    });
    return cl.execute(args);
  }

  @Override
  public void run() {
    spec.commandLine().usage(spec.commandLine().getOut());
  }
}
