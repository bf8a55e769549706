package io.connmgr.testservers;

import java.io.PrintStream;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs one {@link EchoServer} as its own process, so tests can crash a server for real ({@code kill -9}).
 *
 * <p>Usage: {@code EchoServerMain <serverId> <serverName> <port>} ({@code port} 0 picks a free one). Once the server
 * listens it prints exactly one line {@code LISTENING 127.0.0.1:<port>} on stdout, then blocks until the process is
 * killed; a normal termination signal (SIGTERM, SIGINT) kills the server first. Bad arguments exit with status 2,
 * a failure to bind with status 1.
 *
 * <p><b>Threading.</b> Not instantiable; {@link #main(String[])} is meant to be the process's entry point.
 */
public final class EchoServerMain {

  private static final Logger log = LoggerFactory.getLogger(EchoServerMain.class);

  private EchoServerMain() {}

  /**
   * Starts the server and blocks forever.
   *
   * @param args {@code serverId serverName port}
   */
  public static void main(String[] args) throws InterruptedException {
    if (args.length != 3) {
      System.err.println("usage: EchoServerMain <serverId> <serverName> <port>");
      System.exit(2);
    }
    long serverId;
    int port;
    try {
      serverId = Long.parseLong(args[0]);
      port = Integer.parseInt(args[2]);
    } catch (NumberFormatException e) {
      System.err.println("EchoServerMain: serverId and port must be numbers: " + e.getMessage());
      System.exit(2);
      return;
    }
    EchoServer server;
    try {
      server = EchoServer.start(serverId, args[1], port);
    } catch (RuntimeException e) {
      log.error("cannot start echo server {} on port {}", serverId, port, e);
      System.exit(1);
      return;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "echo-server-" + serverId + "-shutdown"));
    PrintStream out = System.out;
    out.println("LISTENING " + server.address());
    out.flush();
    // The server's threads are daemon threads: hold the JVM until it is killed.
    new CountDownLatch(1).await();
  }
}
