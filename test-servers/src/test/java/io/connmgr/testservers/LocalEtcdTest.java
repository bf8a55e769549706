package io.connmgr.testservers;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link LocalEtcd} without JUnit's lifecycle (the JUnit extension over it is tested in connmgr-testing). */
class LocalEtcdTest {

    @Test
    void startsKillsRestoresAndCloses() throws Exception {
        Path root;
        try (LocalEtcd etcd = LocalEtcd.singleMember()) {
            assertThat(etcd.isStarted()).isFalse();
            assertThat(etcd.memberReports(5)).isEmpty();
            etcd.start();
            assertThat(etcd.isStarted()).isTrue();
            root = etcd.dataDir(0).getParent();
            try (Client client = etcd.newClient()) {
                client.getKVClient().put(ByteSequence.from("k", UTF_8), ByteSequence.from("v", UTF_8))
                        .get(10, TimeUnit.SECONDS);
            }
            etcd.kill(0);
            assertThat(etcd.isRunning(0)).isFalse();
            assertThat(etcd.memberReports(5)).singleElement().asString().contains("m0", "running: false");
            etcd.restoreAll();
            assertThat(etcd.isRunning(0)).isTrue();
            try (Client client = etcd.newClient(0)) {
                assertThat(client.getKVClient().get(ByteSequence.from("k", UTF_8)).get(10, TimeUnit.SECONDS)
                        .getKvs()).hasSize(1);
            }
        }
        assertThat(root).doesNotExist();
    }

    @Test
    void missingBinaryIsAnError() {
        String previous = System.getProperty(LocalEtcd.BIN_PROPERTY);
        System.setProperty(LocalEtcd.BIN_PROPERTY, "/nonexistent/etcd");
        try (LocalEtcd etcd = LocalEtcd.singleMember()) {
            assertThatThrownBy(etcd::start)
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("etcd binary not found")
                    .hasMessageContaining("scripts/install-etcd.sh");
            assertThat(etcd.isStarted()).isFalse();
        } finally {
            if (previous == null) {
                System.clearProperty(LocalEtcd.BIN_PROPERTY);
            } else {
                System.setProperty(LocalEtcd.BIN_PROPERTY, previous);
            }
        }
    }

    @Test
    void logTailReadsTheEndOfLargeFiles() throws Exception {
        Path file = Files.createTempFile("etcd-tail", ".log");
        try {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 5000; i++) {
                sb.append("line ").append(i).append('\n');
            }
            Files.writeString(file, sb.toString());
            assertThat(EtcdMember.tail(file, 3)).isEqualTo("line 4997\nline 4998\nline 4999");
            assertThat(EtcdMember.tail(file, 0)).isEmpty();
            Files.writeString(file, "a\nb");
            assertThat(EtcdMember.tail(file, 5)).isEqualTo("a\nb");
            assertThat(EtcdMember.tail(file.resolveSibling("missing-" + file.getFileName()), 5)).isEmpty();
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
