package io.connmgr.testservers;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.options.CompactOption;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Real etcd processes (one member or a cluster of several) on free loopback ports, for tests, demos and benchmarks.
 * No Docker: the {@code etcd} binary is run directly (see {@link #start()} for how it is found). No JUnit either:
 * {@code io.connmgr.testing.EtcdCluster} (module {@code connmgr-testing}) is the JUnit 5 extension over this class.
 *
 * <pre>{@code
 * try (LocalEtcd etcd = LocalEtcd.members(3)) {
 *     etcd.start();
 *     try (Client client = etcd.newClient()) { ... }
 * }
 * }</pre>
 *
 * <h2>Thread safety</h2>
 * Instances are thread-safe: every method may be called from any thread. Methods block the calling thread
 * until their work is done (processes started/stopped and healthy, signals delivered); lifecycle operations
 * are serialised on an internal lock. A JVM shutdown hook kills the processes of a started cluster that was not
 * closed.
 *
 * <p>Member indexes are {@code 0 .. size()-1}; member {@code i} is named {@code m<i>}. Methods that need
 * running processes throw {@link IllegalStateException} if the cluster is not started, and
 * {@link IndexOutOfBoundsException} for a bad member index.
 */
public final class LocalEtcd implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(LocalEtcd.class);

    /** System property naming the etcd binary; takes precedence over {@link #BIN_ENV}. */
    public static final String BIN_PROPERTY = "connmgr.etcd.bin";
    /** Environment variable naming the etcd binary. */
    public static final String BIN_ENV = "ETCD_BIN";
    static final String NOT_FOUND_HINT = "run scripts/install-etcd.sh (installs Debian's etcd-server)";

    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration STOP_GRACE = Duration.ofSeconds(10);
    private static final Duration CLIENT_CALL_TIMEOUT = Duration.ofSeconds(30);
    private static final long POLL_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    private static final int MESSAGE_LOG_LINES = 30;

    /** The user with etcd's {@code root} role when {@link Security#authPrefix()} is set. */
    public static final String ROOT = "root";
    /** A user whose only role grants READ on {@link Security#authPrefix()}. */
    public static final String READER = "reader";
    /** A user whose only role grants READWRITE on {@link Security#authPrefix()}. */
    public static final String WRITER = "writer";

    /**
     * TLS and authentication of a cluster's client URLs (peers stay plain http on loopback).
     *
     * @param caFile         the CA that signed {@code serverCert} and {@code clientCert}; with
     *                       {@code clientCertAuth}, etcd trusts client certificates it signed
     * @param serverCert     the members' certificate (SANs {@code localhost}, {@code 127.0.0.1}), or {@code null}
     *                       for plain http
     * @param serverKey      its key
     * @param clientCertAuth etcd's {@code --client-cert-auth}: clients must present a certificate signed by
     *                       {@code caFile}
     * @param clientCert     the certificate this class's own clients present ({@link #newClient()}), or {@code null}
     * @param clientKey      its key
     * @param authPrefix     with a value, etcd authentication is enabled at the first start: users {@link #ROOT},
     *                       {@link #READER} (READ on this prefix) and {@link #WRITER} (READWRITE on it), with random
     *                       passwords ({@link #password(String)}); {@code null} for none
     */
    public record Security(Path caFile, Path serverCert, Path serverKey, boolean clientCertAuth, Path clientCert,
            Path clientKey, String authPrefix) {

        /** Plain http, no authentication. */
        public static final Security NONE = new Security(null, null, null, false, null, null, null);

        /** Whether clients use TLS. */
        public boolean tls() {
            return serverCert != null;
        }
    }

    private final int size;
    private final Security security;
    private final java.util.Map<String, String> passwords;
    private final Object lock = new Object();

    /** The started cluster, or null. Written only under {@link #lock}. */
    private volatile Run run;

    /** State of one started cluster: temp root, members and the shutdown hook. */
    private static final class Run {
        final Path root;
        final List<EtcdMember> members;
        final Thread shutdownHook;

        Run(Path root, List<EtcdMember> members) {
            this.root = root;
            this.members = List.copyOf(members);
            this.shutdownHook = new Thread(this::emergencyKill, "etcd-cluster-shutdown-" + root.getFileName());
        }

        /** JVM shutdown: kill everything without taking the cluster lock, then best-effort cleanup. */
        private void emergencyKill() {
            for (EtcdMember m : members) {
                Process p = m.process();
                if (p != null) {
                    p.destroyForcibly();
                }
            }
            for (EtcdMember m : members) {
                Process p = m.process();
                if (p != null) {
                    try {
                        p.waitFor(2, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                }
            }
            deleteRecursively(root);
        }
    }

    private LocalEtcd(int size, Security security) {
        this.size = size;
        this.security = Objects.requireNonNull(security, "security");
        if (security.authPrefix() != null && security.authPrefix().isEmpty()) {
            throw new IllegalArgumentException("authPrefix: must not be empty");
        }
        if (security.clientCertAuth() && !security.tls()) {
            throw new IllegalArgumentException("clientCertAuth: needs serverCert (TLS)");
        }
        java.security.SecureRandom random = new java.security.SecureRandom();
        this.passwords = java.util.Map.of(ROOT, randomPassword(random), READER, randomPassword(random), WRITER,
                randomPassword(random));
    }

    private static String randomPassword(java.security.SecureRandom random) {
        byte[] b = new byte[12];
        random.nextBytes(b);
        return "pw-" + java.util.HexFormat.of().formatHex(b);
    }

    /**
     * A cluster of one member. Nothing is started until {@link #start()}.
     *
     * <p>Thread-safe.
     *
     * @return a new, not yet started cluster of one member
     */
    public static LocalEtcd singleMember() {
        return new LocalEtcd(1, Security.NONE);
    }

    /**
     * A cluster of {@code n} members. Nothing is started until {@link #start()}.
     *
     * <p>Thread-safe.
     *
     * @param n number of members, at least 1 (use an odd number such as 3 to survive losing a member)
     * @return a new, not yet started cluster
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public static LocalEtcd members(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("an etcd cluster needs at least 1 member, got " + n);
        }
        return new LocalEtcd(n, Security.NONE);
    }

    /**
     * A cluster of {@code n} members with TLS and/or authentication. Nothing is started until {@link #start()}.
     *
     * <p>Thread-safe.
     *
     * @param n        number of members, at least 1
     * @param security TLS files and whether to enable client-certificate and password authentication
     * @return a new, not yet started cluster
     * @throws IllegalArgumentException if {@code n < 1}, or {@code clientCertAuth} without TLS
     */
    public static LocalEtcd members(int n, Security security) {
        if (n < 1) {
            throw new IllegalArgumentException("an etcd cluster needs at least 1 member, got " + n);
        }
        return new LocalEtcd(n, security);
    }

    /** This cluster's TLS and authentication settings. */
    public Security security() {
        return security;
    }

    /**
     * The password of {@link #ROOT}, {@link #READER} or {@link #WRITER} (random per instance; meaningful when
     * {@link Security#authPrefix()} is set).
     *
     * @throws IllegalArgumentException for another user
     */
    public String password(String user) {
        String pw = passwords.get(user);
        if (pw == null) {
            throw new IllegalArgumentException("no password for user " + user + "; known: " + passwords.keySet());
        }
        return pw;
    }

    /**
     * Starts a new cluster: picks free loopback client and peer ports for all members, creates a temp
     * directory ({@code connmgr-etcd*}) holding each member's data dir and log file, launches the members and
     * blocks until every member's {@code /health} reports true (at most 30 s). The members start concurrently
     * and elect a leader together; launches are staggered only by the few milliseconds each member needs to
     * open its peer port (this avoids etcd's 1 s-per-peer bootstrap probe timeout against a peer that is
     * listening but not yet serving, which otherwise makes a 3-member start take up to 2 s longer). Idempotent: does nothing
     * if already started. May be called again after {@link #close()}, which starts a brand-new cluster on new
     * ports.
     *
     * <p>The etcd binary is the first of: system property {@code connmgr.etcd.bin}, environment variable
     * {@code ETCD_BIN}, {@code /usr/bin/etcd}, {@code etcd} on the {@code PATH}.
     *
     * <p>Thread-safe; blocks the caller until the cluster is healthy or startup failed.
     *
     * @throws IllegalStateException if the binary is not found, a member exits early (e.g. its port was taken)
     *     or the cluster does not become healthy in time; the message carries the members' log tails. Anything
     *     started so far is killed and deleted.
     */
    public void start() {
        synchronized (lock) {
            if (run != null) {
                return;
            }
            Path binary = locateBinary();
            int perMember = security.tls() ? 3 : 2;
            int[] ports = freePorts(perMember * size);
            Path root;
            try {
                root = Files.createTempDirectory("connmgr-etcd");
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create a temp directory for etcd", e);
            }
            List<EtcdMember> members = new ArrayList<>(size);
            for (int i = 0; i < size; i++) {
                members.add(new EtcdMember(i, ports[perMember * i], ports[perMember * i + 1],
                        security.tls() ? ports[perMember * i + 2] : 0, security, root));
            }
            String initialCluster = members.stream()
                    .map(m -> m.name + "=" + m.peerUrl())
                    .collect(Collectors.joining(","));
            String token = "connmgr-" + UUID.randomUUID();
            for (EtcdMember m : members) {
                m.configure(binary, initialCluster, token);
            }
            Run r = new Run(root, members);
            run = r;
            try {
                Runtime.getRuntime().addShutdownHook(r.shutdownHook);
                long deadline = System.nanoTime() + DEFAULT_TIMEOUT.toNanos();
                for (int i = 0; i < members.size(); i++) {
                    EtcdMember m = members.get(i);
                    m.launch();
                    if (i < members.size() - 1) {
                        // A new member asks its peers (1 s timeout each) whether it was bootstrapped already; a peer
                        // whose port is open but not yet served makes that question hang for the full second. So
                        // each member is launched as soon as the previous one serves peer traffic (a few ms).
                        awaitServingPeers(m, deadline);
                    }
                }
                awaitAllHealthy(members, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
                if (security.authPrefix() != null) {
                    enableAuth();
                }
            } catch (IOException | RuntimeException e) {
                closeLocked();
                String detail = e instanceof IllegalStateException ? e.getMessage() : e.toString();
                throw new IllegalStateException(
                        "etcd cluster of " + size + " member(s) failed to start: " + detail, e);
            }
            log.debug("started etcd cluster {} in {}", clientEndpoints(), root);
        }
    }

    /**
     * Kills every member with SIGKILL, waits for the processes to exit, deletes the temp directory (data dirs
     * and logs) and removes the shutdown hook. Idempotent; never throws. The cluster may be started again
     * afterwards with {@link #start()} (as a new cluster).
     *
     * <p>Thread-safe; blocks the caller until the processes are gone.
     */
    @Override
    public void close() {
        synchronized (lock) {
            closeLocked();
        }
    }

    private void closeLocked() {
        Run r = run;
        if (r == null) {
            return;
        }
        run = null;
        try {
            for (EtcdMember m : r.members) {
                Process p = m.process();
                if (p != null) {
                    p.destroyForcibly(); // signal all first so they die in parallel
                }
            }
            for (EtcdMember m : r.members) {
                m.kill();
            }
        } catch (RuntimeException e) {
            log.warn("error while killing etcd members in {}", r.root, e);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(r.shutdownHook);
        } catch (IllegalStateException e) {
            // JVM shutdown in progress: the hook runs (or ran) anyway
        } catch (RuntimeException e) {
            log.debug("cannot remove etcd shutdown hook", e);
        }
        deleteRecursively(r.root);
    }

    /**
     * Number of members (fixed at creation; available before {@link #start()}).
     *
     * <p>Thread-safe; does not block.
     *
     * @return the number of members
     */
    public int size() {
        return size;
    }

    /**
     * Client URLs of all members, in member order, e.g. {@code http://127.0.0.1:41234}.
     *
     * <p>Thread-safe; does not block. The ports stay the same across {@link #kill}/{@link #restart} of
     * members, and change only when the cluster is closed and started again.
     *
     * @return an immutable list with one endpoint per member
     * @throws IllegalStateException if the cluster is not started
     */
    public List<String> clientEndpoints() {
        return requireRun().members.stream().map(EtcdMember::clientUrl).collect(Collectors.toUnmodifiableList());
    }

    /**
     * Client URL of one member, e.g. {@code http://127.0.0.1:41234}.
     *
     * <p>Thread-safe; does not block.
     *
     * @param member member index
     * @return the member's client endpoint
     * @throws IllegalStateException if the cluster is not started
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public String clientEndpoint(int member) {
        return member(member).clientUrl();
    }

    /**
     * Kills a member with SIGKILL ({@link Process#destroyForcibly()}) and waits for the process to exit. No-op
     * if the member is not running. Works on paused members too.
     *
     * <p>Thread-safe; blocks the caller until the process has exited.
     *
     * @param member member index
     * @throws IllegalStateException if the cluster is not started
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public void kill(int member) {
        synchronized (lock) {
            member(member).kill();
        }
    }

    /**
     * Stops a member gracefully with SIGTERM ({@link Process#destroy()}) and waits for it to exit; if it has not
     * exited after 10 s it is killed with SIGKILL. A paused member is continued so that it can act on SIGTERM.
     * No-op if the member is not running.
     *
     * <p>Thread-safe; blocks the caller until the process has exited.
     *
     * @param member member index
     * @throws IllegalStateException if the cluster is not started
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public void stop(int member) {
        synchronized (lock) {
            member(member).stop(STOP_GRACE);
        }
    }

    /**
     * Restarts a member: stops it gracefully if it is running (see {@link #stop(int)}), then starts it again on
     * the same ports with the same data dir and command line (etcd ignores the initial-cluster flags when the
     * data dir exists, so it rejoins as the same member) and waits until it is healthy (at most 30 s).
     *
     * <p>Thread-safe; blocks the caller until the member is healthy.
     *
     * @param member member index
     * @throws IllegalStateException if the cluster is not started or the member does not become healthy (the
     *     message carries its log tail)
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public void restart(int member) {
        synchronized (lock) {
            EtcdMember m = member(member);
            m.stop(STOP_GRACE);
            launch(m);
            awaitAllHealthy(List.of(m), DEFAULT_TIMEOUT);
        }
    }

    /**
     * Starts a killed or stopped member again on the same ports with the same data dir and waits until it is
     * healthy (at most 30 s). If the member is already running it is resumed if paused, and then just awaited
     * healthy.
     *
     * <p>Thread-safe; blocks the caller until the member is healthy.
     *
     * @param member member index
     * @throws IllegalStateException if the cluster is not started or the member does not become healthy (the
     *     message carries its log tail)
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public void start(int member) {
        synchronized (lock) {
            EtcdMember m = member(member);
            if (m.isAlive()) {
                if (m.isPaused()) {
                    m.resume();
                }
            } else {
                launch(m);
            }
            awaitAllHealthy(List.of(m), DEFAULT_TIMEOUT);
        }
    }

    /**
     * Freezes a member with SIGSTOP ({@code kill -STOP <pid>}): the process stays alive (and
     * {@link #isRunning(int)} stays true) but does not answer clients or peers until {@link #resume(int)}.
     *
     * <p>Thread-safe; blocks the caller until the signal is delivered (on Linux, until the kernel reports the
     * process as stopped, at most 5 s).
     *
     * @param member member index
     * @throws IllegalStateException if the cluster is not started, the member is not running or the signal
     *     could not be sent
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public void pause(int member) {
        synchronized (lock) {
            member(member).pause();
        }
    }

    /**
     * Continues a paused member with SIGCONT ({@code kill -CONT <pid>}). Does not wait for it to be healthy;
     * use {@link #awaitHealthy(int, Duration)} for that.
     *
     * <p>Thread-safe; blocks the caller until the signal is delivered.
     *
     * @param member member index
     * @throws IllegalStateException if the cluster is not started, the member is not running or the signal
     *     could not be sent
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public void resume(int member) {
        synchronized (lock) {
            member(member).resume();
        }
    }

    /**
     * Whether the member's process is alive. A paused member counts as running.
     *
     * <p>Thread-safe; does not block.
     *
     * @param member member index
     * @return true if the member's process is alive; false if it was killed, stopped or has crashed
     * @throws IllegalStateException if the cluster is not started
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public boolean isRunning(int member) {
        return member(member).isAlive();
    }

    /**
     * Polls {@code http://127.0.0.1:<clientPort>/health} about every 20 ms until the body reports
     * {@code "health":"true"}.
     *
     * <p>Thread-safe; blocks the caller until the member is healthy or the timeout expires. Does not take the
     * lifecycle lock, so other threads may kill or restart members meanwhile.
     *
     * @param member member index
     * @param timeout how long to wait
     * @throws IllegalStateException if the member is not healthy in time, is not running or exits while
     *     waiting, or the thread is interrupted (the interrupt flag is kept); the message carries the member's
     *     log tail
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public void awaitHealthy(int member, Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        awaitAllHealthy(List.of(member(member)), timeout);
    }

    /**
     * Compacts the key-value history at the current revision (physical compaction: returns once the old
     * revisions are really removed). The current revision is read from the response header of a get. If the
     * history is already compacted at that revision (nothing written since the last compaction) this is a
     * no-op.
     *
     * <p>Thread-safe; blocks the caller until the compaction is done (at most about 30 s per call to etcd).
     *
     * @return the revision at which the history was compacted; reads at older revisions now fail
     * @throws IllegalStateException if the cluster is not started or etcd fails
     */
    public long compact() {
        requireRun();
        try (Client client = newClient()) {
            KV kv = client.getKVClient();
            ByteSequence probe = ByteSequence.from("connmgr-testing/compact-probe", StandardCharsets.UTF_8);
            long revision = kv.get(probe).get(CLIENT_CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
                    .getHeader().getRevision();
            try {
                kv.compact(revision, CompactOption.builder().withCompactPhysical(true).build())
                        .get(CLIENT_CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                String msg = String.valueOf(e.getCause() == null ? e.getMessage() : e.getCause().getMessage());
                if (!msg.contains("required revision has been compacted")) {
                    throw e;
                }
                // already compacted at this (current) revision
            }
            return revision;
        } catch (ExecutionException e) {
            throw new IllegalStateException("etcd compaction failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("etcd compaction timed out", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during etcd compaction", e);
        }
    }

    /**
     * A new jetcd client over the client endpoints of all members. The caller owns and must close it.
     *
     * <p>Thread-safe; does not block (jetcd connects lazily).
     *
     * @return a new client
     * @throws IllegalStateException if the cluster is not started
     */
    public Client newClient() {
        return client(clientEndpoints().toArray(String[]::new), security.authPrefix() != null);
    }

    /**
     * A new jetcd client talking to one member only. The caller owns and must close it.
     *
     * <p>Thread-safe; does not block (jetcd connects lazily).
     *
     * @param member member index
     * @return a new client
     * @throws IllegalStateException if the cluster is not started
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public Client newClient(int member) {
        return client(new String[] {clientEndpoint(member)}, security.authPrefix() != null);
    }

    /** A jetcd client over TLS (with the fixture's client certificate) when configured, as root when asked. */
    private Client client(String[] endpoints, boolean asRoot) {
        io.etcd.jetcd.ClientBuilder b = Client.builder().endpoints(endpoints);
        if (security.tls()) {
            try {
                b.sslContext(ssl -> {
                    ssl.trustManager(security.caFile().toFile());
                    if (security.clientCert() != null) {
                        ssl.keyManager(security.clientCert().toFile(), security.clientKey().toFile());
                    }
                });
            } catch (javax.net.ssl.SSLException e) {
                throw new IllegalStateException("cannot use the cluster's TLS files: " + e, e);
            }
        }
        if (asRoot) {
            b.user(ByteSequence.from(ROOT, StandardCharsets.UTF_8))
                    .password(ByteSequence.from(password(ROOT), StandardCharsets.UTF_8));
        }
        return b.build();
    }

    /**
     * Enables etcd authentication: roles {@code reader} (READ) and {@code writer} (READWRITE) on the prefix, users
     * root, reader and writer with their passwords, then {@code auth enable}.
     */
    private void enableAuth() {
        String prefix = security.authPrefix();
        byte[] end = prefix.getBytes(StandardCharsets.UTF_8);
        end[end.length - 1]++;
        ByteSequence key = ByteSequence.from(prefix, StandardCharsets.UTF_8);
        ByteSequence rangeEnd = ByteSequence.from(end);
        try (Client c = client(clientEndpoints().toArray(String[]::new), false)) {
            io.etcd.jetcd.Auth auth = c.getAuthClient();
            long t = CLIENT_CALL_TIMEOUT.toMillis();
            auth.roleAdd(bytes(READER)).get(t, TimeUnit.MILLISECONDS);
            auth.roleGrantPermission(bytes(READER), key, rangeEnd, io.etcd.jetcd.auth.Permission.Type.READ)
                    .get(t, TimeUnit.MILLISECONDS);
            auth.roleAdd(bytes(WRITER)).get(t, TimeUnit.MILLISECONDS);
            auth.roleGrantPermission(bytes(WRITER), key, rangeEnd, io.etcd.jetcd.auth.Permission.Type.READWRITE)
                    .get(t, TimeUnit.MILLISECONDS);
            for (String user : List.of(ROOT, READER, WRITER)) {
                auth.userAdd(bytes(user), bytes(password(user))).get(t, TimeUnit.MILLISECONDS);
                auth.userGrantRole(bytes(user), bytes(user)).get(t, TimeUnit.MILLISECONDS);
            }
            auth.authEnable().get(t, TimeUnit.MILLISECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("cannot enable etcd authentication: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while enabling etcd authentication", e);
        }
        log.debug("enabled etcd authentication on {} (prefix {})", clientEndpoints(), prefix);
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    /**
     * The member's data directory ({@code <temp root>/m<i>}); it is created by etcd on first start and kept
     * across kill/stop/restart until {@link #close()}.
     *
     * <p>Thread-safe; does not block.
     *
     * @param member member index
     * @return the data directory path
     * @throws IllegalStateException if the cluster is not started
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     */
    public Path dataDir(int member) {
        return member(member).dataDir;
    }

    /**
     * The last lines of the member's log file ({@code <temp root>/m<i>.log}, stdout and stderr of every run of
     * the member, appended).
     *
     * <p>Thread-safe; blocks only for reading the file.
     *
     * @param member member index
     * @param lines how many lines at most
     * @return the lines joined with {@code \n}; empty if there is no log yet
     * @throws IllegalStateException if the cluster is not started
     * @throws IndexOutOfBoundsException if {@code member} is not a valid index
     * @throws UncheckedIOException if the log cannot be read
     */
    public String logTail(int member, int lines) {
        return member(member).logTail(lines);
    }

    /**
     * Whether the cluster is started (between {@link #start()} and {@link #close()}).
     *
     * <p>Thread-safe; does not block.
     *
     * @return true if started
     */
    public boolean isStarted() {
        return run != null;
    }

    /**
     * Brings every member back: killed or stopped members are started again on the same ports and data dir,
     * paused members are resumed, and all members are awaited healthy (at most 30 s). What a test fixture does
     * between two tests sharing one cluster.
     *
     * <p>Thread-safe; blocks the caller until all members are healthy.
     *
     * @throws IllegalStateException if the cluster is not started or a member does not become healthy (the
     *     message carries its log tail)
     */
    public void restoreAll() {
        synchronized (lock) {
            ensureAllRunning();
        }
    }

    /**
     * For failure reports: one entry per member naming it, whether it runs, and the last {@code lines} lines of
     * its log. Empty if the cluster is not started.
     *
     * <p>Thread-safe; blocks only for reading the log files. Never throws on unreadable logs.
     *
     * @param lines how many log lines per member at most
     * @return one text per member, in member order
     */
    public List<String> memberReports(int lines) {
        Run r = run;
        if (r == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>(r.members.size());
        for (EtcdMember m : r.members) {
            out.add(m + " (running: " + m.isAlive() + "), last " + lines + " log lines:\n"
                    + m.logTailForMessage(lines));
        }
        return out;
    }

    /**
     * Human-readable description: size, and endpoints and data root when started.
     *
     * <p>Thread-safe; does not block.
     *
     * @return a description of this cluster
     */
    @Override
    public String toString() {
        Run r = run;
        if (r == null) {
            return "LocalEtcd[" + size + " member(s), not started]";
        }
        return "LocalEtcd[" + size + " member(s), "
                + r.members.stream().map(EtcdMember::clientUrl).collect(Collectors.toList()) + ", " + r.root + "]";
    }

    // ---------------------------------------------------------------------------------------------------------

    /** Brings back killed/stopped members and resumes paused ones, then awaits all healthy. Holds the lock. */
    private void ensureAllRunning() {
        Run r = requireRun();
        for (EtcdMember m : r.members) {
            if (!m.isAlive()) {
                launch(m);
            } else if (m.isPaused()) {
                m.resume();
            }
        }
        awaitAllHealthy(r.members, DEFAULT_TIMEOUT);
    }

    private static void launch(EtcdMember m) {
        try {
            m.launch();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + m, e);
        }
    }

    /**
     * Polls the members' {@code /health} until all are healthy; fails fast if one exits.
     */
    private static void awaitAllHealthy(Collection<EtcdMember> members, Duration timeout) {
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        Set<EtcdMember> pending = new LinkedHashSet<>(members);
        try {
            while (true) {
                for (Iterator<EtcdMember> it = pending.iterator(); it.hasNext(); ) {
                    EtcdMember m = it.next();
                    Process p = m.process();
                    if (p == null) {
                        throw new IllegalStateException(m + " is not running");
                    }
                    if (!p.isAlive()) {
                        throw new IllegalStateException(m + " exited with code " + exitCode(p)
                                + " before becoming healthy; log tail:\n" + m.logTailForMessage(MESSAGE_LOG_LINES));
                    }
                    if (m.isHealthy(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())))) {
                        it.remove();
                    }
                }
                if (pending.isEmpty()) {
                    return;
                }
                if (System.nanoTime() - deadline >= 0) {
                    StringBuilder sb = new StringBuilder("timed out after ").append(timeout.toMillis())
                            .append(" ms waiting for etcd to become healthy:");
                    for (EtcdMember m : pending) {
                        sb.append("\n--- ").append(m).append(" log tail:\n")
                                .append(m.logTailForMessage(MESSAGE_LOG_LINES));
                    }
                    throw new IllegalStateException(sb.toString());
                }
                LockSupport.parkNanos(POLL_NANOS);
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for "
                    + pending.stream().map(m -> m.name).collect(Collectors.joining(", ")) + " to become healthy", e);
        }
    }

    /** Polls the member's peer port until it serves; fails fast if the member exits. */
    private static void awaitServingPeers(EtcdMember m, long deadline) {
        try {
            while (true) {
                Process p = m.process();
                if (!p.isAlive()) {
                    throw new IllegalStateException(m + " exited with code " + exitCode(p)
                            + " while starting; log tail:\n" + m.logTailForMessage(MESSAGE_LOG_LINES));
                }
                long left = deadline - System.nanoTime();
                if (m.isServingPeers(Duration.ofNanos(Math.max(TimeUnit.MILLISECONDS.toNanos(50),
                        Math.min(left, TimeUnit.MILLISECONDS.toNanos(500)))))) {
                    return;
                }
                if (System.nanoTime() - deadline >= 0) {
                    throw new IllegalStateException("timed out waiting for " + m + " to serve peer traffic; log tail:\n"
                            + m.logTailForMessage(MESSAGE_LOG_LINES));
                }
                LockSupport.parkNanos(POLL_NANOS / 4);
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting " + m, e);
        }
    }

    private static String exitCode(Process p) {
        try {
            return Integer.toString(p.exitValue());
        } catch (IllegalThreadStateException e) {
            return "?";
        }
    }

    private Run requireRun() {
        Run r = run;
        if (r == null) {
            throw new IllegalStateException("etcd cluster is not started; call start() first");
        }
        return r;
    }

    private EtcdMember member(int member) {
        Run r = requireRun();
        return r.members.get(Objects.checkIndex(member, size));
    }

    /** Binds {@code count} distinct free ports on 127.0.0.1 (all held open at once, then released). */
    private static int[] freePorts(int count) {
        List<ServerSocket> sockets = new ArrayList<>(count);
        try {
            InetAddress loopback = InetAddress.getByName("127.0.0.1");
            int[] ports = new int[count];
            for (int i = 0; i < count; i++) {
                ServerSocket s = new ServerSocket(0, 1, loopback);
                sockets.add(s);
                ports[i] = s.getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find free loopback ports", e);
        } finally {
            for (ServerSocket s : sockets) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // nothing to do
                }
            }
        }
    }

    /** Locates the etcd binary (see {@link #start()}). */
    static Path locateBinary() {
        String configured = System.getProperty(BIN_PROPERTY);
        String source = "system property " + BIN_PROPERTY;
        if (configured == null || configured.isBlank()) {
            configured = System.getenv(BIN_ENV);
            source = "environment variable " + BIN_ENV;
        }
        if (configured != null && !configured.isBlank()) {
            Path p = Path.of(configured.trim());
            if (isExecutableFile(p)) {
                return p;
            }
            // An explicit setting that is wrong is an error, not a reason to silently use some other etcd.
            throw new IllegalStateException("etcd binary not found: " + source + " is " + configured
                    + ", which is not an executable file; " + NOT_FOUND_HINT);
        }
        Path usrBin = Path.of("/usr/bin/etcd");
        if (isExecutableFile(usrBin)) {
            return usrBin;
        }
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    Path candidate = Path.of(dir, "etcd");
                    if (isExecutableFile(candidate)) {
                        return candidate;
                    }
                }
            }
        }
        throw new IllegalStateException("etcd binary not found; " + NOT_FOUND_HINT);
    }

    private static boolean isExecutableFile(Path p) {
        return Files.isRegularFile(p) && Files.isExecutable(p);
    }

    private static void deleteRecursively(Path root) {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException exc) {
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                    Files.deleteIfExists(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException | RuntimeException e) {
            log.debug("cannot delete {}", root, e);
        }
    }
}
