package io.connmgr.testservers;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A {@code main} class run in a separate JVM with this JVM's class path: the server or registrar process a test kills
 * with kill -9. Its stdout and stderr are merged and recorded line by line.
 *
 * <p>Thread-safe. {@link #awaitLine} blocks the calling (test) thread until the line appears, the process exits or
 * the timeout passes; {@link #kill()} blocks until the process is gone.
 */
public final class ChildJvm implements AutoCloseable {

  private final Process process;
  private final List<String> lines = new ArrayList<>();
  private boolean ended;

  private ChildJvm(Process process) {
    this.process = process;
    Thread reader = new Thread(this::read, "child-jvm-output-" + process.pid());
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * Starts {@code mainClass} with {@code args}.
   *
   * @throws UncheckedIOException if the JVM cannot be started
   */
  public static ChildJvm start(Class<?> mainClass, String... args) {
    List<String> javaArgs = new ArrayList<>(List.of("-cp", System.getProperty("java.class.path"), mainClass.getName()));
    javaArgs.addAll(List.of(args));
    return java(javaArgs, Map.of());
  }

  /**
   * Starts {@code java} (this JVM's) with {@code javaArgs} (options, then the main class or {@code -jar}, then its
   * arguments) and extra environment variables.
   *
   * @throws UncheckedIOException if the JVM cannot be started
   */
  public static ChildJvm java(List<String> javaArgs, Map<String, String> env) {
    List<String> command = new ArrayList<>();
    command.add(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    command.addAll(javaArgs);
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().putAll(env);
    try {
      return new ChildJvm(pb.start());
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start " + command, e);
    }
  }

  /**
   * Writes {@code line} and a newline to the process's standard input.
   *
   * @throws UncheckedIOException if the process no longer reads it
   */
  public void send(String line) {
    try {
      OutputStream in = process.getOutputStream();
      in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
      in.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write to the child JVM: " + output(), e);
    }
  }

  /** Every line the process has written so far. */
  public synchronized List<String> lines() {
    return List.copyOf(lines);
  }

  private synchronized String output() {
    return String.join("\n", lines);
  }

  private void read() {
    try (BufferedReader r = new BufferedReader(
        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        synchronized (this) {
          lines.add(line);
          notifyAll();
        }
      }
    } catch (IOException e) {
      // the process was killed
    } finally {
      synchronized (this) {
        ended = true;
        notifyAll();
      }
    }
  }

  /**
   * The first output line starting with {@code prefix}.
   *
   * @throws IllegalStateException with the process's output if it exits first or the timeout passes
   */
  public synchronized String awaitLine(String prefix, Duration timeout) throws InterruptedException {
    return awaitLine(prefix, 0, timeout);
  }

  /**
   * The first output line starting with {@code prefix} among the lines after the first {@code skip}: with
   * {@code skip = lines().size()} taken before a command, the answer to that command.
   *
   * @throws IllegalStateException with the process's output if it exits first or the timeout passes
   */
  public synchronized String awaitLine(String prefix, int skip, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      for (int i = skip; i < lines.size(); i++) {
        String l = lines.get(i);
        if (l.startsWith(prefix)) {
          return l;
        }
      }
      long left = deadline - System.nanoTime();
      if (ended || left <= 0) {
        throw new IllegalStateException("no line starting with '" + prefix + "' from the child JVM ("
            + (ended ? "it exited" : "timed out") + "); its output:\n" + String.join("\n", lines));
      }
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
  }

  /** The process. */
  public Process process() {
    return process;
  }

  /** kill -9, then waits for the process to be gone. */
  public void kill() throws InterruptedException {
    process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
  }

  /** Kills the process if it still runs. Never throws. */
  @Override
  public void close() {
    process.destroyForcibly();
  }
}
