package io.connmgr.testservers;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * One etcd member process of an {@link LocalEtcd}: its fixed ports, data directory, log file and the
 * currently running {@link Process} (if any).
 *
 * <p>Lifecycle-changing methods are called by {@link LocalEtcd} while holding the cluster lock; the
 * process reference is {@code volatile} so the JVM shutdown hook and read-only queries can see it without
 * the lock.
 */
final class EtcdMember {

    private static final Duration HEALTH_REQUEST_TIMEOUT = Duration.ofSeconds(1);
    private static final Duration SIGNAL_STATE_TIMEOUT = Duration.ofSeconds(5);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    /** Shared, lazily created HTTP client for {@code /health} polls (its threads are daemon threads). */
    private static final class Http {
        static final HttpClient CLIENT = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(HEALTH_REQUEST_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    final int index;
    final String name;
    final int clientPort;
    final int peerPort;
    /** Plain-http port for {@code /health} when clients must use TLS (0: health on the client URL). */
    final int metricsPort;
    private final LocalEtcd.Security security;
    final Path dataDir;
    final Path logFile;
    private final List<String> command;
    private final URI healthUri;

    private volatile Process process;
    private volatile boolean paused;

    EtcdMember(int index, int clientPort, int peerPort, int metricsPort, LocalEtcd.Security security, Path root) {
        this.index = index;
        this.name = "m" + index;
        this.clientPort = clientPort;
        this.peerPort = peerPort;
        this.metricsPort = metricsPort;
        this.security = security;
        this.dataDir = root.resolve(name);
        this.logFile = root.resolve(name + ".log");
        this.healthUri = URI.create((security.tls() ? "http://127.0.0.1:" + metricsPort : clientUrl()) + "/health");
        this.command = new ArrayList<>();
    }

    /** Fixes the command line; called once by the cluster after all members (and so all peer URLs) exist. */
    void configure(Path binary, String initialCluster, String token) {
        command.clear();
        command.addAll(List.of(
                binary.toString(),
                "--name", name,
                "--data-dir", dataDir.toString(),
                "--listen-client-urls", clientUrl(),
                "--advertise-client-urls", clientUrl(),
                "--listen-peer-urls", peerUrl(),
                "--initial-advertise-peer-urls", peerUrl(),
                "--initial-cluster", initialCluster,
                // On a restart etcd ignores the initial-cluster* flags because the data dir already exists.
                "--initial-cluster-state", "new",
                "--initial-cluster-token", token,
                "--heartbeat-interval", "10",
                "--election-timeout", "100",
                "--logger", "zap",
                "--log-outputs", "stderr"));
        if (security.tls()) {
            command.addAll(List.of(
                    "--cert-file", security.serverCert().toString(),
                    "--key-file", security.serverKey().toString(),
                    "--listen-metrics-urls", "http://127.0.0.1:" + metricsPort));
            if (security.clientCertAuth()) {
                command.addAll(List.of("--client-cert-auth", "--trusted-ca-file", security.caFile().toString()));
            }
        }
    }

    String clientUrl() {
        return (security.tls() ? "https" : "http") + "://127.0.0.1:" + clientPort;
    }

    String peerUrl() {
        return "http://127.0.0.1:" + peerPort;
    }

    Process process() {
        return process;
    }

    boolean isAlive() {
        Process p = process;
        return p != null && p.isAlive();
    }

    /** Starts the etcd process (stdout and stderr appended to {@link #logFile}); the member must not be alive. */
    void launch() throws IOException {
        if (isAlive()) {
            throw new IllegalStateException(this + " is already running");
        }
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        // etcd reads ETCD_<FLAG> variables as flags; do not let the test environment leak into the member.
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("ETCD_") && !k.equals("ETCD_UNSUPPORTED_ARCH"));
        Process p = pb.start();
        p.getOutputStream().close(); // etcd never reads stdin
        paused = false;
        process = p;
    }

    /** SIGKILL and wait (uninterruptibly) for the process to exit; no-op if not running. */
    void kill() {
        Process p = process;
        if (p == null) {
            return;
        }
        p.destroyForcibly();
        awaitExit(p, null);
        paused = false;
    }

    /** SIGTERM, wait up to {@code grace} for exit, then SIGKILL; no-op if not running. */
    void stop(Duration grace) {
        Process p = process;
        if (p == null || !p.isAlive()) {
            return;
        }
        p.destroy();
        if (paused) {
            // A stopped process only acts on SIGTERM once continued.
            trySignal(p, "CONT");
        }
        if (!awaitExit(p, grace)) {
            p.destroyForcibly();
            awaitExit(p, null);
        }
        paused = false;
    }

    /** SIGSTOP; the member must be running. Waits (bounded) until the kernel reports the process stopped. */
    void pause() {
        Process p = requireAlive();
        signal(p, "STOP");
        paused = true;
        awaitProcState(p, true);
    }

    /** SIGCONT; the member must be running. */
    void resume() {
        Process p = requireAlive();
        signal(p, "CONT");
        paused = false;
        awaitProcState(p, false);
    }

    /** True if the process is alive and was paused via {@link #pause()} or is in the stopped state. */
    boolean isPaused() {
        Process p = process;
        if (p == null || !p.isAlive()) {
            return false;
        }
        return paused || procStateStopped(p.pid());
    }

    /**
     * One {@code GET /health} with the given timeout (capped at 1 s, at least 50 ms).
     *
     * @param timeout request timeout
     * @return true if the body reports {@code "health":"true"}
     * @throws InterruptedException if interrupted during the request
     */
    boolean isHealthy(Duration timeout) throws InterruptedException {
        Duration t = timeout.compareTo(HEALTH_REQUEST_TIMEOUT) > 0 ? HEALTH_REQUEST_TIMEOUT : timeout;
        if (t.toMillis() < 50) {
            t = Duration.ofMillis(50);
        }
        HttpRequest request = HttpRequest.newBuilder(healthUri).timeout(t).GET().build();
        try {
            HttpResponse<String> response = Http.CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
            return response.body() != null && response.body().contains("\"health\":\"true\"");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * One {@code GET /members} on the peer port: true once the member serves peer traffic (which etcd does
     * before it has a quorum).
     *
     * @param timeout request timeout
     * @throws InterruptedException if interrupted during the request
     */
    boolean isServingPeers(Duration timeout) throws InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(peerUrl() + "/members")).timeout(timeout).GET().build();
        try {
            return Http.CLIENT.send(request, HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
        } catch (IOException e) {
            return false;
        }
    }

    /** Last {@code lines} lines of the member's log file ("" if it does not exist yet). */
    String logTail(int lines) {
        try {
            return tail(logFile, lines);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + logFile, e);
        }
    }

    /** Log tail for error messages; never throws. */
    String logTailForMessage(int lines) {
        try {
            String t = tail(logFile, lines);
            return t.isEmpty() ? "<empty log " + logFile + ">" : t;
        } catch (IOException | RuntimeException e) {
            return "<cannot read " + logFile + ": " + e + ">";
        }
    }

    @Override
    public String toString() {
        return "etcd member " + name + " (client " + clientUrl() + ", peer " + peerUrl() + ")";
    }

    private Process requireAlive() {
        Process p = process;
        if (p == null || !p.isAlive()) {
            throw new IllegalStateException(this + " is not running");
        }
        return p;
    }

    /**
     * Waits for the process to exit, ignoring (but preserving) interrupts.
     *
     * @param timeout null for no limit
     * @return true if the process exited
     */
    private static boolean awaitExit(Process p, Duration timeout) {
        boolean interrupted = false;
        long deadline = timeout == null ? 0 : System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                try {
                    if (timeout == null) {
                        p.waitFor();
                        return true;
                    }
                    long left = deadline - System.nanoTime();
                    return p.waitFor(Math.max(0, left), TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void signal(Process p, String signal) {
        String out;
        int rc;
        boolean interrupted = false;
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid()))
                    .redirectErrorStream(true)
                    .start();
            kill.getOutputStream().close();
            try (InputStream in = kill.getInputStream()) {
                out = new String(in.readAllBytes(), StandardCharsets.UTF_8).trim();
            }
            while (true) {
                try {
                    rc = kill.waitFor();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run kill -" + signal + " " + p.pid(), e);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        if (rc != 0) {
            throw new IllegalStateException("kill -" + signal + " " + p.pid() + " failed with exit code " + rc
                    + (out.isEmpty() ? "" : ": " + out));
        }
    }

    private static void trySignal(Process p, String signal) {
        try {
            signal(p, signal);
        } catch (RuntimeException ignored) {
            // best effort: the process may already be gone
        }
    }

    /** Best effort, Linux only: wait until /proc/&lt;pid&gt;/stat reports the wanted stopped/running state. */
    private static void awaitProcState(Process p, boolean stopped) {
        Path stat = Path.of("/proc", Long.toString(p.pid()), "stat");
        if (!Files.isReadable(stat)) {
            return;
        }
        long deadline = System.nanoTime() + SIGNAL_STATE_TIMEOUT.toNanos();
        while (p.isAlive() && procStateStopped(p.pid()) != stopped && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(POLL_NANOS / 10);
        }
    }

    private static boolean procStateStopped(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // Format: pid (comm) state ...; comm may contain spaces/parentheses, so look after the last ')'.
            int i = stat.lastIndexOf(')');
            if (i < 0 || i + 2 >= stat.length()) {
                return false;
            }
            char state = stat.charAt(i + 2);
            return state == 'T' || state == 't';
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Reads the last {@code lines} lines of a file, reading backwards in blocks. */
    static String tail(Path file, int lines) throws IOException {
        if (lines <= 0) {
            return "";
        }
        try (SeekableByteChannel ch = Files.newByteChannel(file)) {
            long pos = ch.size();
            Deque<byte[]> blocks = new ArrayDeque<>();
            int newlines = 0;
            int total = 0;
            // One extra newline: the file normally ends with one, and the first line read may be partial.
            while (pos > 0 && newlines <= lines) {
                int n = (int) Math.min(8192, pos);
                pos -= n;
                ByteBuffer buf = ByteBuffer.allocate(n);
                ch.position(pos);
                while (buf.hasRemaining() && ch.read(buf) > 0) {
                    // keep reading
                }
                byte[] block = Arrays.copyOf(buf.array(), buf.position());
                for (byte b : block) {
                    if (b == '\n') {
                        newlines++;
                    }
                }
                blocks.addFirst(block);
                total += block.length;
            }
            byte[] all = new byte[total];
            int off = 0;
            for (byte[] b : blocks) {
                System.arraycopy(b, 0, all, off, b.length);
                off += b.length;
            }
            String text = new String(all, StandardCharsets.UTF_8);
            if (text.endsWith("\n")) {
                text = text.substring(0, text.length() - 1);
            }
            if (text.isEmpty()) {
                return "";
            }
            String[] split = text.split("\r?\n", -1);
            int from = Math.max(0, split.length - lines);
            return String.join("\n", Arrays.asList(split).subList(from, split.length));
        } catch (NoSuchFileException e) {
            return "";
        }
    }
}
