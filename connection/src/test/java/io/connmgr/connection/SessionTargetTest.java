package io.connmgr.connection;

import io.connmgr.testing.LeakCheck;
import org.junit.jupiter.api.extension.ExtendWith;
import static io.connmgr.connection.ConnectionManagerTest.echo;
import static io.connmgr.connection.ConnectionManagerTest.hold;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testservers.EchoServer;
import io.grpc.ManagedChannel;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** {@code session:///} channels on plain grpc-java, over the in-memory registry and real Netty servers. */
@ExtendWith(LeakCheck.class)
class SessionTargetTest {

  private final List<AutoCloseable> closeables = new ArrayList<>();

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closeables.size() - 1; i >= 0; i--) {
      closeables.get(i).close();
    }
  }

  private <T extends AutoCloseable> T closeLater(T c) {
    closeables.add(c);
    return c;
  }

  private InMemoryRegistry registry() {
    return closeLater(InMemoryRegistry.create());
  }

  /** Puts a session for {@code server} under {@code role} with id {@code id}; returns its key. */
  private static String put(InMemoryRegistry registry, String role, long id, EchoServer server) {
    String key = registry.layout().sessionKey(role, id);
    registry.kv().put(key, SessionCodec.encode(Session.builder(role, server.address()).serverId(id).build()));
    return key;
  }

  @SuppressWarnings("deprecation") // nameResolverFactory: the way to use a registry of one's own
  private ManagedChannel channel(SessionNameResolverProvider provider, String role) {
    NameResolverRegistry resolvers = new NameResolverRegistry();
    resolvers.register(provider);
    ManagedChannel ch = NettyChannelBuilder.forTarget("session:///" + role).nameResolverFactory(resolvers.asFactory())
        .usePlaintext().intercept(provider.interceptor()).build();
    closeLater(() -> {
      ch.shutdownNow();
      ch.awaitTermination(10, TimeUnit.SECONDS);
    });
    return ch;
  }

  @Test
  void theLastSessionDeletedWhileItsServerRunsFailsNewCallsNamingTheRole() throws Exception {
    InMemoryRegistry registry = registry();
    EchoServer server = closeLater(EchoServer.start(7, "querynode"));
    String key = put(registry, "querynode", 7, server);
    ManagedChannel ch = channel(new SessionNameResolverProvider(registry), "querynode");
    assertThat(echo(ch, "before").getServerId()).isEqualTo(7);
    assertThat(server.lastServerIdHeader()).isEqualTo("7");

    registry.kv().delete(key); // decommissioned, partitioned from etcd, a new leader elsewhere: the process runs on
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThatThrownBy(() -> echo(ch, "after"))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
          assertThat(e.getStatus().getDescription()).isEqualTo("no live session of role querynode");
        }));
    long served = server.callsServed();
    for (int i = 0; i < 3; i++) {
      assertThatThrownBy(() -> echo(ch, "still gone")).isInstanceOf(StatusRuntimeException.class);
    }
    assertThat(server.callsServed()).isEqualTo(served);

    put(registry, "querynode", 7, server); // back
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
        .until(() -> echo(ch, "again").getServerId() == 7);
  }

  @Test
  void twoRolesBehindOneAddressFailOnlyTheirOwnCalls() throws Exception {
    InMemoryRegistry registry = registry();
    EchoServer server = closeLater(EchoServer.start(1, "shared"));
    String keyA = put(registry, "querynode", 1, server);
    put(registry, "datanode", 1, server); // the server checks the ServerID header: one id, two roles
    SessionNameResolverProvider provider = new SessionNameResolverProvider(registry);
    ManagedChannel a = channel(provider, "querynode");
    ManagedChannel b = channel(provider, "datanode");
    echo(a, "warm");
    echo(b, "warm");

    CompletableFuture<Status> onA = hold(a, 0);
    CompletableFuture<Status> onB = hold(b, 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> server.inFlightHolds() == 2);

    registry.kv().delete(keyA);
    Status status = onA.get(5, TimeUnit.SECONDS);
    assertThat(status.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(status.getDescription()).isEqualTo("querynode-1 (" + server.address() + ") deleted");
    await().atMost(Duration.ofSeconds(5)).until(() -> server.inFlightHolds() == 1); // the cancel reached the server
    assertThat(onB).isNotDone();
    assertThat(echo(b, "b still works").getServerId()).isEqualTo(1);
  }

  @Test
  void twoDiscoveriesBehindOneAddressFailOnlyTheirOwnCalls() throws Exception {
    InMemoryRegistry first = registry();
    InMemoryRegistry second = registry();
    EchoServer server = closeLater(EchoServer.start(3, "querynode"));
    String key = put(first, "querynode", 3, server);
    put(second, "querynode", 3, server);
    SessionNameResolverProvider p1 = new SessionNameResolverProvider(first);
    SessionNameResolverProvider p2 = new SessionNameResolverProvider(second);
    ManagedChannel one = channel(p1, "querynode");
    ManagedChannel two = channel(p2, "querynode");
    echo(one, "warm");
    echo(two, "warm");

    CompletableFuture<Status> onOne = hold(one, 0);
    CompletableFuture<Status> onTwo = hold(two, 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> server.inFlightHolds() == 2);

    first.kv().delete(key);
    assertThat(onOne.get(5, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    await().atMost(Duration.ofSeconds(5)).until(() -> server.inFlightHolds() == 1);
    assertThat(onTwo).isNotDone();
  }

  @Test
  void aStoppingServerTakesNoNewCallsButItsCallsDrain() throws Exception {
    InMemoryRegistry registry = registry();
    EchoServer s1 = closeLater(EchoServer.start(1, "querynode"));
    EchoServer s2 = closeLater(EchoServer.start(2, "querynode"));
    put(registry, "querynode", 1, s1);
    String key2 = put(registry, "querynode", 2, s2);
    ManagedChannel ch = channel(new SessionNameResolverProvider(registry), "querynode");
    await().atMost(Duration.ofSeconds(10)).until(() -> echo(ch, "rr").getServerId() == 2);
    registry.kv().put(key2, SessionCodec.encode(Session.builder("querynode", s2.address()).serverId(2).build()
        .withStopping(true)));
    await().atMost(Duration.ofSeconds(10)).until(() -> {
      for (int i = 0; i < 4; i++) {
        if (echo(ch, "after").getServerId() != 1) {
          return false;
        }
      }
      return true;
    });
  }
}
