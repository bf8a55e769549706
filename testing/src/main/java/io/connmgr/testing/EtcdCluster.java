package io.connmgr.testing;

import io.connmgr.testservers.LocalEtcd;
import io.etcd.jetcd.Client;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Real etcd processes (one member or a cluster of several) on free loopback ports, for integration tests.
 * No Docker: the {@code etcd} binary is run directly (see {@link #start()} for how it is found). The processes
 * are run by {@link LocalEtcd} (module {@code connmgr-test-servers}, no JUnit); this class adds the JUnit 5
 * lifecycle to it.
 *
 * <h2>As a JUnit 5 extension</h2>
 * <pre>{@code
 * // one cluster for the whole class: started before all tests, closed after all tests
 * @RegisterExtension static final EtcdCluster etcd = EtcdCluster.singleMember();
 *
 * // a fresh cluster for every test: started before each test, closed after it
 * @RegisterExtension final EtcdCluster etcd = EtcdCluster.members(3);
 * }</pre>
 * When a cluster is shared by several tests, every member is brought back before each test (killed or stopped
 * members are started again on the same ports and data dir, paused members are resumed), so one test's
 * fault injection does not leak into the next. Data written by earlier tests is kept. When a test fails, the
 * last 40 lines of every member's log are logged at WARN via SLF4J. With {@code @Nested} classes the cluster
 * is owned (and closed) by the outermost context that started it.
 *
 * <h2>Without JUnit</h2>
 * <pre>{@code
 * try (EtcdCluster cluster = EtcdCluster.members(3)) {
 *     cluster.start();
 *     try (Client client = cluster.newClient()) { ... }
 * }
 * }</pre>
 *
 * <h2>Thread safety</h2>
 * Instances are thread-safe: every method may be called from any thread. Methods block the calling thread
 * until their work is done (processes started/stopped and healthy, signals delivered); lifecycle operations
 * are serialised on an internal lock. A JVM shutdown hook kills the processes of a started cluster that was not
 * closed. (Tests that run concurrently on one shared cluster and inject faults into it will of course see each
 * other's faults, and the before-each restore of one test may revive a member another test just killed.)
 *
 * <p>Member indexes are {@code 0 .. size()-1}; member {@code i} is named {@code m<i>}. Methods that need
 * running processes throw {@link IllegalStateException} if the cluster is not started, and
 * {@link IndexOutOfBoundsException} for a bad member index.
 */
public final class EtcdCluster
        implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EtcdCluster.class);

    /** System property naming the etcd binary; takes precedence over {@link #BIN_ENV}. */
    static final String BIN_PROPERTY = LocalEtcd.BIN_PROPERTY;
    /** Environment variable naming the etcd binary. */
    static final String BIN_ENV = LocalEtcd.BIN_ENV;

    private static final int FAILURE_LOG_LINES = 40;

    /** etcd's root user when authentication is on ({@link #withAuth}). */
    public static final String ROOT = LocalEtcd.ROOT;
    /** A user whose only role grants READ on the prefix given to {@link #withAuth}. */
    public static final String READER = LocalEtcd.READER;
    /** A user whose only role grants READWRITE on the prefix given to {@link #withAuth}. */
    public static final String WRITER = LocalEtcd.WRITER;

    private final int size;
    private final boolean tls;
    private final boolean clientCertAuth;
    private final String authPrefix;
    private final TestPki pki;
    private final LocalEtcd etcd;
    private final Object lock = new Object();
    /** Unique id of the extension context that started the cluster (closes it); guarded by {@link #lock}. */
    private String owner;

    private EtcdCluster(int size, boolean tls, boolean clientCertAuth, String authPrefix, TestPki reuse) {
        this.size = size;
        this.tls = tls;
        this.clientCertAuth = clientCertAuth;
        this.authPrefix = authPrefix;
        if (tls) {
            try {
                this.pki = reuse != null ? reuse
                        : TestPki.create(Files.createTempDirectory("connmgr-pki"), "etcd-test-ca");
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create a directory for the test CA", e);
            }
            TestPki.Issued server = pki.server("etcd");
            TestPki.Issued admin = pki.client(ROOT);
            this.etcd = LocalEtcd.members(size, new LocalEtcd.Security(pki.caFile(), server.cert(), server.key(),
                    clientCertAuth, admin.cert(), admin.key(), authPrefix));
        } else {
            this.pki = null;
            this.etcd = LocalEtcd.members(size, new LocalEtcd.Security(null, null, null, false, null, null,
                    authPrefix));
        }
    }

    /**
     * The same cluster with TLS on its client URLs ({@code https://127.0.0.1:<port>}): a throwaway CA
     * ({@link #pki()}, made now in a temp directory, no network) signs the members' certificate (SANs
     * {@code localhost}, {@code 127.0.0.1}); clients verify it with {@link #caFile()}. Call before starting.
     *
     * <pre>{@code
     * @RegisterExtension
     * static final EtcdCluster etcd = EtcdCluster.singleMember().withClientCertAuth().withAuth("by-dev/meta/session/");
     * ...
     * TestPki.Issued cert = etcd.clientCert("app");
     * EtcdDiscovery.builder().endpoints(etcd.clientEndpoints())
     *     .tls(etcd.caFile(), cert.cert(), cert.key())
     *     .auth(EtcdCluster.READER, etcd.password(EtcdCluster.READER).toCharArray())
     *     .build();
     * }</pre>
     *
     * @return a new, not yet started cluster of the same size
     */
    public EtcdCluster withTls() {
        return new EtcdCluster(size, true, clientCertAuth, authPrefix, pki);
    }

    /**
     * The same cluster with TLS and etcd's {@code --client-cert-auth}: every client must present a certificate
     * signed by {@link #caFile()} ({@link #clientCert(String)} issues one). With {@link #withAuth} too, a client
     * that gives no user name is authenticated as its certificate's CN.
     *
     * @return a new, not yet started cluster of the same size
     */
    public EtcdCluster withClientCertAuth() {
        return new EtcdCluster(size, true, true, authPrefix, pki);
    }

    /**
     * The same cluster with etcd authentication enabled at its first start: user {@link #ROOT} (etcd's root role),
     * {@link #READER} with READ and {@link #WRITER} with READWRITE on every key under {@code prefix}, each with a
     * random password ({@link #password(String)}). {@link #newClient()} and the fixture's own operations run as
     * root.
     *
     * @param prefix the key prefix the reader and writer roles cover, e.g. {@code by-dev/meta/session/}
     * @return a new, not yet started cluster of the same size
     */
    public EtcdCluster withAuth(String prefix) {
        Objects.requireNonNull(prefix, "prefix");
        return new EtcdCluster(size, tls, clientCertAuth, prefix, pki);
    }

    /**
     * The CA file clients verify the members' certificate with.
     *
     * @throws IllegalStateException without {@link #withTls()}
     */
    public Path caFile() {
        return requirePki().caFile();
    }

    /**
     * A new client certificate signed by the cluster's CA, CN {@code commonName} (files {@code client-<cn>.pem} and
     * {@code client-<cn>-key.pem}, PKCS#8).
     *
     * @throws IllegalStateException without {@link #withTls()}
     */
    public TestPki.Issued clientCert(String commonName) {
        return requirePki().client(commonName);
    }

    /**
     * The cluster's CA, to issue more (expired, another name...).
     *
     * @throws IllegalStateException without {@link #withTls()}
     */
    public TestPki pki() {
        return requirePki();
    }

    /** The password of {@link #ROOT}, {@link #READER} or {@link #WRITER}. */
    public String password(String user) {
        return etcd.password(user);
    }

    private TestPki requirePki() {
        if (pki == null) {
            throw new IllegalStateException("this cluster has no TLS: use withTls() or withClientCertAuth()");
        }
        return pki;
    }

    /**
     * A cluster of one member. Nothing is started until {@link #start()} (or the JUnit callbacks) run.
     *
     * <p>Thread-safe.
     *
     * @return a new, not yet started cluster of one member
     */
    public static EtcdCluster singleMember() {
        return new EtcdCluster(1, false, false, null, null);
    }

    /**
     * A cluster of {@code n} members. Nothing is started until {@link #start()} (or the JUnit callbacks) run.
     *
     * <p>Thread-safe.
     *
     * @param n number of members, at least 1 (use an odd number such as 3 to survive losing a member)
     * @return a new, not yet started cluster
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public static EtcdCluster members(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("an etcd cluster needs at least 1 member, got " + n);
        }
        return new EtcdCluster(n, false, false, null, null);
    }

    /**
     * The processes underneath, for code that takes a {@link LocalEtcd}. Closing it closes this cluster.
     *
     * @return the cluster's {@link LocalEtcd}
     */
    public LocalEtcd local() {
        return etcd;
    }

    /**
     * Starts a new cluster (see {@link LocalEtcd#start()}): free loopback ports, a temp directory
     * ({@code connmgr-etcd*}) with each member's data dir and log, and blocks until every member is healthy (at
     * most 30 s). Idempotent. May be called again after {@link #close()}, which starts a brand-new cluster on new
     * ports.
     *
     * <p>The etcd binary is the first of: system property {@code connmgr.etcd.bin}, environment variable
     * {@code ETCD_BIN}, {@code /usr/bin/etcd}, {@code etcd} on the {@code PATH}.
     *
     * <p>Thread-safe; blocks the caller until the cluster is healthy or startup failed.
     *
     * @throws IllegalStateException if the binary is not found, a member exits early or the cluster does not
     *     become healthy in time; the message carries the members' log tails
     */
    public void start() {
        synchronized (lock) {
            etcd.start();
        }
    }

    /**
     * Kills every member with SIGKILL, deletes the temp directory and removes the shutdown hook (see
     * {@link LocalEtcd#close()}). Idempotent; never throws.
     *
     * <p>Thread-safe; blocks the caller until the processes are gone.
     */
    @Override
    public void close() {
        synchronized (lock) {
            owner = null;
            etcd.close();
        }
    }

    /** @return the number of members (fixed at creation). See {@link LocalEtcd#size()}. */
    public int size() {
        return etcd.size();
    }

    /**
     * @return client URLs of all members, in member order. See {@link LocalEtcd#clientEndpoints()}.
     * @throws IllegalStateException if the cluster is not started
     */
    public List<String> clientEndpoints() {
        return etcd.clientEndpoints();
    }

    /**
     * @param member member index
     * @return the member's client URL. See {@link LocalEtcd#clientEndpoint(int)}.
     */
    public String clientEndpoint(int member) {
        return etcd.clientEndpoint(member);
    }

    /**
     * Kills a member with SIGKILL and waits for it to exit. See {@link LocalEtcd#kill(int)}.
     *
     * @param member member index
     */
    public void kill(int member) {
        etcd.kill(member);
    }

    /**
     * Stops a member with SIGTERM (SIGKILL after 10 s). See {@link LocalEtcd#stop(int)}.
     *
     * @param member member index
     */
    public void stop(int member) {
        etcd.stop(member);
    }

    /**
     * Restarts a member on the same ports and data dir and waits until it is healthy. See
     * {@link LocalEtcd#restart(int)}.
     *
     * @param member member index
     */
    public void restart(int member) {
        etcd.restart(member);
    }

    /**
     * Starts a killed or stopped member again (or resumes a paused one) and waits until it is healthy. See
     * {@link LocalEtcd#start(int)}.
     *
     * @param member member index
     */
    public void start(int member) {
        etcd.start(member);
    }

    /**
     * Freezes a member with SIGSTOP. See {@link LocalEtcd#pause(int)}.
     *
     * @param member member index
     */
    public void pause(int member) {
        etcd.pause(member);
    }

    /**
     * Continues a paused member with SIGCONT. See {@link LocalEtcd#resume(int)}.
     *
     * @param member member index
     */
    public void resume(int member) {
        etcd.resume(member);
    }

    /**
     * @param member member index
     * @return whether the member's process is alive (a paused member counts as running)
     */
    public boolean isRunning(int member) {
        return etcd.isRunning(member);
    }

    /**
     * Polls the member's {@code /health} until it reports healthy. See {@link LocalEtcd#awaitHealthy(int, Duration)}.
     *
     * @param member member index
     * @param timeout how long to wait
     */
    public void awaitHealthy(int member, Duration timeout) {
        etcd.awaitHealthy(member, timeout);
    }

    /**
     * Compacts the history at the current revision (physical). See {@link LocalEtcd#compact()}.
     *
     * @return the revision at which the history was compacted
     */
    public long compact() {
        return etcd.compact();
    }

    /** @return a new jetcd client over all members; the caller closes it. See {@link LocalEtcd#newClient()}. */
    public Client newClient() {
        return etcd.newClient();
    }

    /**
     * @param member member index
     * @return a new jetcd client talking to one member; the caller closes it
     */
    public Client newClient(int member) {
        return etcd.newClient(member);
    }

    /**
     * @param member member index
     * @return the member's data directory. See {@link LocalEtcd#dataDir(int)}.
     */
    public Path dataDir(int member) {
        return etcd.dataDir(member);
    }

    /**
     * @param member member index
     * @param lines how many lines at most
     * @return the last lines of the member's log. See {@link LocalEtcd#logTail(int, int)}.
     */
    public String logTail(int member, int lines) {
        return etcd.logTail(member, lines);
    }

    /**
     * JUnit: starts the cluster before all tests of the class (when registered via a static field). With
     * {@code @Nested} classes, an already started cluster is left alone.
     *
     * <p>Thread-safe; blocks until the cluster is healthy.
     *
     * @param context the JUnit extension context
     */
    @Override
    public void beforeAll(ExtensionContext context) {
        synchronized (lock) {
            if (!etcd.isStarted()) {
                etcd.start();
                owner = context.getUniqueId();
            }
        }
    }

    /**
     * JUnit: before each test, starts the cluster if it is not started (registered via an instance field; it
     * is then closed after the test), otherwise brings every member back: killed or stopped members are started
     * again and paused members resumed, and all members are awaited healthy.
     *
     * <p>Thread-safe; blocks until all members are healthy.
     *
     * @param context the JUnit extension context
     */
    @Override
    public void beforeEach(ExtensionContext context) {
        synchronized (lock) {
            if (!etcd.isStarted()) {
                etcd.start();
                owner = context.getUniqueId();
            } else {
                etcd.restoreAll();
            }
        }
    }

    /**
     * JUnit: logs the last 40 log lines of every member at WARN if the test failed, and closes the cluster if
     * it was started for this test.
     *
     * <p>Thread-safe; blocks until the cluster is closed (if it is closed). Never throws.
     *
     * @param context the JUnit extension context
     */
    @Override
    public void afterEach(ExtensionContext context) {
        finish(context);
    }

    /**
     * JUnit: logs the last 40 log lines of every member at WARN if the class failed, and closes the cluster if
     * it was started for this class.
     *
     * <p>Thread-safe; blocks until the cluster is closed (if it is closed). Never throws.
     *
     * @param context the JUnit extension context
     */
    @Override
    public void afterAll(ExtensionContext context) {
        finish(context);
    }

    /**
     * Human-readable description: size, and endpoints and data root when started.
     *
     * @return a description of this cluster
     */
    @Override
    public String toString() {
        String s = etcd.toString();
        return s.startsWith("LocalEtcd") ? "EtcdCluster" + s.substring("LocalEtcd".length()) : s;
    }

    private void finish(ExtensionContext context) {
        synchronized (lock) {
            try {
                if (context.getExecutionException().isPresent()) {
                    for (String report : etcd.memberReports(FAILURE_LOG_LINES)) {
                        log.warn("{} failed; {}", context.getDisplayName(), report);
                    }
                }
            } catch (RuntimeException e) {
                log.warn("cannot log etcd member logs", e);
            }
            if (etcd.isStarted() && context.getUniqueId().equals(owner)) {
                owner = null;
                etcd.close();
            }
        }
    }
}
