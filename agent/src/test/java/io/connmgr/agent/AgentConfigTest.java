package io.connmgr.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.connmgr.agent.internal.AgentConfig;
import io.connmgr.testing.TestPki;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent's configuration: precedence, defaults and errors that name the key and where it came from. */
class AgentConfigTest {

  @TempDir
  Path dir;

  @Test
  void defaults() {
    AgentConfig c = AgentConfig.load(null, Map.of());
    assertThat(c.etcd()).containsExactly("http://127.0.0.1:2379");
    assertThat(c.root()).isEqualTo("by-dev/meta/session/");
    assertThat(c.targets()).isEmpty();
    assertThat(c.roles()).isEmpty();
    assertThat(c.retryInitial()).isEqualTo(Duration.ofMillis(100));
    assertThat(c.retryMax()).isEqualTo(Duration.ofSeconds(5));
    assertThat(c.log()).isEqualTo("info");
    assertThat(c.enabled()).isTrue();
  }

  @Test
  void optionsWinOverTheFileWhichWinsOverTheEnvironment() throws Exception {
    Path file = Files.writeString(dir.resolve("agent.properties"),
        "root=file/\nroles=querynode\nretry.max=7s\n");
    AgentConfig c = AgentConfig.load("config=" + file + ";root=options/;targets=LB:19530=querynode,db:1=datanode",
        Map.of("CONNMGR_ROOT", "env/", "CONNMGR_ROLES", "proxy", "CONNMGR_RETRY_MAX", "9s", "CONNMGR_LOG", "debug",
            "CONNMGR_ETCD", "http://10.0.0.1:2379, http://10.0.0.2:2379"));
    assertThat(c.root()).isEqualTo("options/");
    assertThat(c.roles()).containsExactly("querynode");
    assertThat(c.retryMax()).isEqualTo(Duration.ofSeconds(7));
    assertThat(c.log()).isEqualTo("debug");
    assertThat(c.etcd()).containsExactly("http://10.0.0.1:2379", "http://10.0.0.2:2379");
    assertThat(c.targets()).containsEntry("lb:19530", "querynode").containsEntry("db:1", "datanode");
  }

  @Test
  void theConfigFileCanComeFromTheEnvironment() throws Exception {
    Path file = Files.writeString(dir.resolve("agent.properties"), "roles=indexnode\n");
    assertThat(AgentConfig.load("", Map.of("CONNMGR_CONFIG", file.toString())).roles()).containsExactly("indexnode");
  }

  @Test
  void errorsNameTheKeyAndWhereItCameFrom() throws Exception {
    assertThatThrownBy(() -> AgentConfig.load("etcd=localhost:2379", Map.of()))
        .hasMessageStartingWith("etcd (agent option etcd): 'localhost:2379' is not an etcd URL");
    assertThatThrownBy(() -> AgentConfig.load(null, Map.of("CONNMGR_TARGETS", "lb=querynode")))
        .hasMessage("targets (environment variable CONNMGR_TARGETS): 'lb' is not host:port");
    assertThatThrownBy(() -> AgentConfig.load("targets=lb:70000=querynode", Map.of()))
        .hasMessage("targets (agent option targets): 'lb:70000' has no port in 1..65535");
    assertThatThrownBy(() -> AgentConfig.load("roles=query node", Map.of()))
        .hasMessageContaining("roles (agent option roles): 'query node' is not a role name");
    assertThatThrownBy(() -> AgentConfig.load("retry.initial=2s;retry.max=1s", Map.of()))
        .hasMessageStartingWith("retry.max (agent option retry.max): must be at least initial");
    assertThatThrownBy(() -> AgentConfig.load("colour=blue", Map.of()))
        .hasMessageStartingWith("agent option 'colour' is unknown; known keys: etcd, root, roles, targets");
    assertThatThrownBy(() -> AgentConfig.load("etcd", Map.of()))
        .hasMessageStartingWith("agent option 'etcd' is not key=value");
    assertThatThrownBy(() -> AgentConfig.load("log=loud", Map.of()))
        .hasMessage("log (agent option log): 'loud' is not one of error, warn, info, debug");
    assertThatThrownBy(() -> AgentConfig.load("config=" + dir.resolve("missing"), Map.of()))
        .hasMessageStartingWith("config: cannot read");
    Path file = Files.writeString(dir.resolve("bad.properties"), "root=nope\n");
    assertThatThrownBy(() -> AgentConfig.load("config=" + file, Map.of()))
        .hasMessageStartingWith("root (file " + file + ", root): ");
  }

  @Test
  void tlsFilesMustBeUsableAndGoWithHttps() throws Exception {
    Path missing = dir.resolve("ca.pem");
    assertThatThrownBy(() -> AgentConfig.load("tls.ca=" + missing + ";etcd=https://etcd:2379", Map.of()))
        .hasMessage("tls.ca (agent option tls.ca): cannot read " + missing + " (no such file)");
    Path notPem = Files.writeString(dir.resolve("x.pem"), "x");
    assertThatThrownBy(() -> AgentConfig.load("tls.ca=" + notPem + ";etcd=https://etcd:2379", Map.of()))
        .hasMessage("tls.ca (agent option tls.ca): " + notPem
            + " is not a PEM file (no -----BEGIN CERTIFICATE----- block)");
    TestPki pki = TestPki.create(dir, "ca");
    TestPki.Issued app = pki.client("app");
    Path ca = pki.caFile();
    assertThatThrownBy(() -> AgentConfig.load("tls.ca=" + ca + ";tls.cert=" + app.cert(), Map.of()))
        .hasMessage("tls.key (default): required with tls.cert");
    assertThatThrownBy(() -> AgentConfig.load("tls.ca=" + ca, Map.of()))
        .hasMessage("etcd (default): TLS is configured, so every URL must be https://");
    assertThatThrownBy(() -> AgentConfig.load("etcd=https://etcd:2379;tls.ca=" + ca + ";tls.cert=" + app.cert()
        + ";tls.key=" + pki.server("other").key(), Map.of()))
        .hasMessageStartingWith("tls.key (agent option tls.key): ")
        .hasMessageContaining("does not belong to the certificate in " + app.cert());
    AgentConfig c = AgentConfig.load("tls.ca=" + ca + ";tls.cert=" + app.cert() + ";tls.key=" + app.key()
        + ";etcd=https://etcd:2379", Map.of());
    assertThat(c.tlsCa()).isEqualTo(ca);
    assertThat(c.tlsKey()).isEqualTo(app.key());
  }

  @Test
  void etcdUserWithAPasswordFileOrTheEnvironmentNeverPrinted() throws Exception {
    Path pw = Files.writeString(dir.resolve("pw"), "s3cret-pw\n");
    AgentConfig c = AgentConfig.load("user=reader;password.file=" + pw, Map.of());
    assertThat(c.user()).isEqualTo("reader");
    assertThat(new String(c.password())).isEqualTo("s3cret-pw");
    assertThat(c.toString()).doesNotContain("s3cret").contains("user=reader, password=(set)");
    assertThat(new String(AgentConfig.load("user=reader", Map.of("CONNMGR_ETCD_PASSWORD", "env-pw")).password()))
        .isEqualTo("env-pw");
    assertThat(AgentConfig.load(null, Map.of("CONNMGR_ETCD_PASSWORD", "env-pw")).password()).isNull();
    assertThatThrownBy(() -> AgentConfig.load("user=reader", Map.of()))
        .hasMessage("password.file (default): user reader needs a password: set password.file or the environment "
            + "variable CONNMGR_ETCD_PASSWORD");
    assertThatThrownBy(() -> AgentConfig.load("password.file=" + pw, Map.of()))
        .hasMessage("user (default): required with password.file");
    Path none = dir.resolve("none");
    assertThatThrownBy(() -> AgentConfig.load("user=reader;password.file=" + none, Map.of()))
        .hasMessage("password.file (agent option password.file): cannot read " + none + " (no such file)");
  }

  @Test
  void anAllowListIsCheckedWhenTheAgentStarts() {
    assertThat(AgentConfig.load("allow=10.0.0.0/8,*.svc.cluster.local", Map.of()).allow())
        .isEqualTo("10.0.0.0/8,*.svc.cluster.local");
    assertThat(AgentConfig.load(null, Map.of()).allow()).isEmpty();
    assertThatThrownBy(() -> AgentConfig.load("allow=10.0.0.0/99", Map.of()))
        .hasMessageStartingWith("allow (agent option allow): allow-list entry '10.0.0.0/99': ");
  }
}
