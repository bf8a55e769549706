package io.connmgr.testing;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KV;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EtcdClusterTest {

    /** Shared by all tests of this class (and of the nested class): started once, closed after all. */
    @RegisterExtension
    static final EtcdCluster etcd = EtcdCluster.singleMember();

    @Test
    @Order(1)
    void singleMemberPutGet() throws Exception {
        assertThat(etcd.size()).isEqualTo(1);
        assertThat(etcd.clientEndpoints()).hasSize(1).first().asString().startsWith("http://127.0.0.1:");
        assertThat(etcd.clientEndpoint(0)).isEqualTo(etcd.clientEndpoints().get(0));
        assertThat(etcd.isRunning(0)).isTrue();

        try (Client client = etcd.newClient()) {
            KV kv = client.getKVClient();
            kv.put(bytes("single/k"), bytes("v1")).get(5, TimeUnit.SECONDS);
            assertThat(value(kv, "single/k")).isEqualTo("v1");
        }
        try (Client client = etcd.newClient(0)) {
            assertThat(value(client.getKVClient(), "single/k")).isEqualTo("v1");
        }
    }

    @Test
    @Order(2)
    void killedMemberIsRunningAgainBeforeTheNextTest_kill() {
        etcd.kill(0);
        assertThat(etcd.isRunning(0)).isFalse();
        etcd.kill(0); // no-op on a dead member
    }

    @Test
    @Order(3)
    void killedMemberIsRunningAgainBeforeTheNextTest_check() throws Exception {
        assertThat(etcd.isRunning(0)).isTrue();
        try (Client client = etcd.newClient()) {
            // data written by the first test survived kill -9 and restart on the same data dir
            assertThat(value(client.getKVClient(), "single/k")).isEqualTo("v1");
        }
    }

    @Test
    @Order(4)
    void stopAndRestartKeepData() throws Exception {
        Path dataDir = etcd.dataDir(0);
        String endpoint = etcd.clientEndpoint(0);
        try (Client client = etcd.newClient()) {
            client.getKVClient().put(bytes("stop/k"), bytes("kept")).get(5, TimeUnit.SECONDS);
        }
        assertThat(dataDir.resolve("member")).isDirectory();

        etcd.stop(0);
        assertThat(etcd.isRunning(0)).isFalse();
        etcd.restart(0);
        assertThat(etcd.isRunning(0)).isTrue();
        assertThat(etcd.clientEndpoint(0)).isEqualTo(endpoint);
        assertThat(etcd.dataDir(0)).isEqualTo(dataDir);
        try (Client client = etcd.newClient()) {
            assertThat(value(client.getKVClient(), "stop/k")).isEqualTo("kept");
        }

        // restart of a running member: graceful stop, then start again
        etcd.restart(0);
        etcd.stop(0);
        etcd.start(0);
        try (Client client = etcd.newClient(0)) {
            assertThat(value(client.getKVClient(), "stop/k")).isEqualTo("kept");
        }
        assertThat(etcd.logTail(0, 5).lines().count()).isEqualTo(5);
        assertThat(etcd.logTail(0, 1000)).contains("\"msg\":\"received signal; shutting down\"");
    }

    @Test
    @Order(5)
    void compactionMakesOlderRevisionsUnreadable() throws Exception {
        try (Client client = etcd.newClient()) {
            KV kv = client.getKVClient();
            long oldRevision = kv.put(bytes("compact/k"), bytes("a")).get(5, TimeUnit.SECONDS)
                    .getHeader().getRevision();
            kv.put(bytes("compact/k"), bytes("b")).get(5, TimeUnit.SECONDS);

            long compacted = etcd.compact();
            assertThat(compacted).isGreaterThan(oldRevision);
            assertThat(etcd.compact()).isEqualTo(compacted); // nothing written since: no-op

            assertThatThrownBy(() -> kv.get(bytes("compact/k"), GetOption.builder().withRevision(oldRevision).build())
                            .get(5, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class)
                    .cause()
                    .hasMessageContaining("required revision has been compacted");
            assertThat(value(kv, "compact/k")).isEqualTo("b");
        }
    }

    @Test
    @Order(6)
    void pauseAndResume() {
        etcd.pause(0);
        assertThat(etcd.isRunning(0)).isTrue();
        assertThatThrownBy(() -> etcd.awaitHealthy(0, Duration.ofMillis(200)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("timed out");
        etcd.resume(0);
        etcd.awaitHealthy(0, Duration.ofSeconds(10));
    }

    @Test
    @Order(7)
    void pausedMemberIsResumedBeforeTheNextTest_pause() {
        etcd.pause(0);
    }

    @Test
    @Order(8)
    void pausedMemberIsResumedBeforeTheNextTest_check() {
        etcd.awaitHealthy(0, Duration.ofMillis(500));
    }

    @Test
    void threeMemberClusterSurvivesKillAndRestart() throws Exception {
        Path root;
        try (EtcdCluster cluster = EtcdCluster.members(3)) {
            cluster.start();
            cluster.start(); // idempotent
            assertThat(cluster.size()).isEqualTo(3);
            List<String> endpoints = cluster.clientEndpoints();
            assertThat(endpoints).hasSize(3).doesNotHaveDuplicates();
            root = cluster.dataDir(0).getParent();

            cluster.kill(0);
            assertThat(cluster.isRunning(0)).isFalse();
            cluster.awaitHealthy(1, Duration.ofSeconds(10));
            try (Client client = cluster.newClient(1)) {
                KV kv = client.getKVClient();
                for (int i = 0; i < 10; i++) {
                    put(kv, "three/k" + i, "v" + i, Duration.ofSeconds(15));
                }
            }

            cluster.restart(0);
            assertThat(cluster.isRunning(0)).isTrue();
            assertThat(cluster.clientEndpoints()).isEqualTo(endpoints);
            try (Client client = cluster.newClient(0)) {
                assertThat(awaitValue(client.getKVClient(), "three/k9", Duration.ofSeconds(10))).isEqualTo("v9");
                assertThat(value(client.getKVClient(), "three/k0")).isEqualTo("v0");
            }
            try (Client client = cluster.newClient()) {
                assertThat(value(client.getKVClient(), "three/k5")).isEqualTo("v5");
            }
        }
        assertThat(root).doesNotExist();
    }

    @Test
    void closeIsIdempotentAndStartAfterCloseMakesANewCluster() {
        EtcdCluster cluster = EtcdCluster.singleMember();
        assertThatThrownBy(cluster::clientEndpoints).isInstanceOf(IllegalStateException.class);
        cluster.close(); // never started: no-op
        try {
            cluster.start();
            String first = cluster.clientEndpoint(0);
            Path firstData = cluster.dataDir(0);
            cluster.close();
            cluster.close();
            assertThat(firstData).doesNotExist();
            assertThatThrownBy(() -> cluster.isRunning(0)).isInstanceOf(IllegalStateException.class);

            cluster.start();
            assertThat(cluster.isRunning(0)).isTrue();
            assertThat(cluster.dataDir(0)).isNotEqualTo(firstData);
            assertThat(cluster.clientEndpoint(0)).isNotNull();
            assertThatThrownBy(() -> cluster.kill(1)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThat(first).startsWith("http://127.0.0.1:");
        } finally {
            cluster.close();
        }
    }

    @Test
    void membersRejectsEmptyCluster() {
        assertThatThrownBy(() -> EtcdCluster.members(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void missingBinaryIsAnError() {
        String previous = System.getProperty(EtcdCluster.BIN_PROPERTY);
        System.setProperty(EtcdCluster.BIN_PROPERTY, "/nonexistent/etcd");
        try (EtcdCluster cluster = EtcdCluster.singleMember()) {
            assertThatThrownBy(cluster::start)
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("etcd binary not found")
                    .hasMessageContaining("scripts/install-etcd.sh");
            assertThatThrownBy(cluster::clientEndpoints).isInstanceOf(IllegalStateException.class);
        } finally {
            if (previous == null) {
                System.clearProperty(EtcdCluster.BIN_PROPERTY);
            } else {
                System.setProperty(EtcdCluster.BIN_PROPERTY, previous);
            }
        }
    }

    /** An instance field: a fresh cluster per test, closed after each test. */
    @Nested
    class PerTestCluster {

        @RegisterExtension
        final EtcdCluster perTest = EtcdCluster.singleMember();

        @Test
        void freshClusterPerTest() throws Exception {
            assertThat(perTest.isRunning(0)).isTrue();
            assertThat(perTest.clientEndpoint(0)).isNotEqualTo(etcd.clientEndpoint(0));
            // the outer, class-level cluster is still up inside the nested class
            assertThat(etcd.isRunning(0)).isTrue();
            try (Client client = perTest.newClient()) {
                assertThat(value(client.getKVClient(), "single/k")).isNull();
            }
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, UTF_8);
    }

    private static String value(KV kv, String key) throws Exception {
        GetResponse response = kv.get(bytes(key)).get(5, TimeUnit.SECONDS);
        return response.getKvs().isEmpty() ? null : response.getKvs().get(0).getValue().toString(UTF_8);
    }

    /**
     * Puts with retries: if the killed member was the leader, a proposal forwarded to it just before the new
     * election is lost and etcd only answers "request timed out" after ~5 s, so give each attempt 1 s.
     */
    private static void put(KV kv, String key, String value, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                kv.put(bytes(key), bytes(value)).get(1, TimeUnit.SECONDS);
                return;
            } catch (ExecutionException | TimeoutException e) {
                if (System.nanoTime() - deadline >= 0) {
                    throw e;
                }
            }
        }
    }

    /** Reads until the key has a value (e.g. a restarted member catching up), bounded by {@code timeout}. */
    private static String awaitValue(KV kv, String key, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String v;
            try {
                v = value(kv, key);
            } catch (ExecutionException e) {
                v = null; // e.g. the member is still connecting to the leader
            }
            if (v != null || System.nanoTime() - deadline >= 0) {
                return v;
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
    }
}
