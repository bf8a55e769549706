package io.connmgr.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The CLI in a child JVM, with the CLI's own logging configuration (warnings on stderr), its stdout read as one JSON
 * object a line into {@link #lines} and its stderr kept in a file; for long-running commands such as {@code watch}.
 */
final class CliProcess implements AutoCloseable {

  private static final ObjectMapper JSON = new ObjectMapper();

  final Process process;
  final List<JsonNode> lines = new CopyOnWriteArrayList<>();
  final Path stderr;

  private CliProcess(Process process, Path stderr) {
    this.process = process;
    this.stderr = stderr;
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          lines.add(JSON.readTree(line));
        }
      } catch (IOException e) {
        // the process ended
      }
    }, "cli-process-reader");
    reader.setDaemon(true);
    reader.start();
  }

  /** Starts {@code connmgr <args>} with {@code env} added to this JVM's environment. */
  static CliProcess start(List<String> args, Map<String, String> env) throws IOException {
    String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
    List<String> cmd = new ArrayList<>(List.of(java, "-Dlogback.configurationFile=logback.xml",
        "-cp", System.getProperty("java.class.path"), Main.class.getName()));
    cmd.addAll(args);
    Path stderr = Files.createTempFile("connmgr-cli", ".err");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(stderr.toFile());
    pb.environment().putAll(env);
    return new CliProcess(pb.start(), stderr);
  }

  /** What the process wrote on stderr so far. */
  String stderr() throws IOException {
    return Files.readString(stderr);
  }

  /** Kills the process (if still running) and deletes its stderr file. */
  @Override
  public void close() throws IOException {
    process.destroyForcibly();
    Files.deleteIfExists(stderr);
  }
}
