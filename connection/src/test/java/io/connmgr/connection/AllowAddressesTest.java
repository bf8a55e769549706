package io.connmgr.connection;

import static io.connmgr.connection.ConnectionManagerTest.echo;
import static io.connmgr.connection.ConnectionManagerTest.hold;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testing.LeakCheck;
import io.connmgr.testservers.EchoServer;
import io.grpc.ManagedChannel;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The address allow-list, in a manager and on {@code session:///} channels: sessions outside it are never called.
 * Every echo server listens on 127.0.0.1; a session naming it as {@code localhost:<port>} is a host name, which an
 * allow-list of IP ranges does not allow (and nothing resolves it to check).
 */
@ExtendWith(LeakCheck.class)
class AllowAddressesTest {

  private static final String ROLE = "querynode";

  private final TestCluster cluster = new TestCluster(ROLE);
  private final InMemoryRegistry registry = cluster.registry;
  private final RecordingConnectionListener listener = new RecordingConnectionListener();
  private final LogCapture logs = new LogCapture(ServerTable.class);

  @AfterEach
  void tearDown() throws Exception {
    logs.close();
    cluster.close();
  }

  private EchoServer server(long id) {
    EchoServer s = EchoServer.start(id, ROLE);
    cluster.servers.put(id, s);
    return s;
  }

  /** Puts session {@code id} at {@code address}; {@code n} makes each put a change (version 2.4.n). */
  private void put(long id, String address, int n) {
    Session s = Session.builder(ROLE, address).serverId(id).version("2.4." + n).build();
    registry.kv().put(registry.layout().sessionKey(ROLE, id), SessionCodec.encode(s));
  }

  private static String localhost(EchoServer s) {
    return "localhost:" + s.port();
  }

  @Test
  void sessionsOutsideTheListAreNeverCalledAndAreCountedOncePerKey() throws Exception {
    EchoServer allowed = server(1);
    EchoServer elsewhere = server(2);
    put(1, allowed.address(), 1);
    put(2, localhost(elsewhere), 1);
    ConnectionManager cm = cluster.manager(ConnectionOptions.builder(registry).dependsOn(ROLE)
        .allowAddresses(AddressAllowList.of("127.0.0.0/8")).listener(listener));
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    new ConnectionMetrics(cm, List.of(ROLE)).bindTo(meters);

    await().atMost(Duration.ofSeconds(10)).until(() -> cm.serverState(ROLE, 1) == ServerState.READY);
    assertThat(cm.clients(ROLE)).extracting(c -> c.key().serverId()).containsExactly(1L);
    for (int i = 0; i < 4; i++) {
      assertThat(echo(cm.roleChannel(ROLE), "x").getServerId()).isEqualTo(1);
    }
    assertThatThrownBy(() -> echo(cm.channel(ROLE, 2), "x")).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getDescription()).isEqualTo(ROLE + "-2 is not a known server"));
    put(2, localhost(elsewhere), 2); // the same address again: no second WARN, no second count
    put(1, allowed.address(), 2); // applied after it: once seen, so was the update of session 2
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.clients(ROLE).get(0).session().version().equals("2.4.2"));
    assertThat(cm.stats().disallowedSessions()).isEqualTo(1);
    String key2 = registry.layout().sessionKey(ROLE, 2);
    assertThat(logs.lines(Level.WARN, key2)).singleElement().asString()
        .contains("its address " + localhost(elsewhere) + " is not allowed by allowAddresses");
    assertThat(cm.stats().roles().get(ROLE).disallowedSessions()).isEqualTo(1);
    assertThat(meters.get("connmgr.sessions.disallowed").tags("role", ROLE).functionCounter().count())
        .isEqualTo(1.0);
    assertThat(elsewhere.callsServed()).isZero();
    assertThat(listener.calls).noneMatch(c -> c.contains(ROLE + "-2"));
  }

  @Test
  void aServerWhoseSessionMovesOffTheListIsRemovedAndItsCallsFailAtOnce() throws Exception {
    EchoServer server = server(1);
    put(1, server.address(), 1);
    ConnectionManager cm = cluster.manager(ConnectionOptions.builder(registry).dependsOn(ROLE)
        .allowAddresses(AddressAllowList.of("127.0.0.1")).listener(listener));
    assertThat(echo(cm.channel(ROLE, 1), "x").getServerId()).isEqualTo(1);
    CompletableFuture<Status> held = hold(cm.channel(ROLE, 1), 0);
    await().atMost(Duration.ofSeconds(5)).until(() -> server.inFlightHolds() == 1);

    put(1, localhost(server), 2); // the same process, now named by a host name the list does not allow
    Status st = held.get(5, TimeUnit.SECONDS);
    assertThat(st.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    assertThat(st.getDescription()).isEqualTo(ROLE + "-1 (" + server.address() + ") moved to " + localhost(server)
        + ", which is not an allowed address");
    // counted on the control thread, which may still be failing the call's siblings as the status arrives
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.stats().failFastCancellations() == 1);
    assertThat(cm.stats().disallowedSessions()).isEqualTo(1);
    await().atMost(Duration.ofSeconds(5)).until(() -> cm.clients(ROLE).isEmpty());
    assertThatThrownBy(() -> echo(cm.channel(ROLE, 1), "x")).isInstanceOf(StatusRuntimeException.class);

    put(1, server.address(), 3); // back on the list: used again
    await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
        .until(() -> echo(cm.channel(ROLE, 1), "again").getServerId() == 1);
  }

  // ------------------------------------------------------------------ session:/// channels

  @SuppressWarnings("deprecation") // nameResolverFactory: the way to use a registry of one's own
  private ManagedChannel channel(SessionNameResolverProvider provider) {
    NameResolverRegistry resolvers = new NameResolverRegistry();
    resolvers.register(provider);
    return NettyChannelBuilder.forTarget("session:///" + ROLE).nameResolverFactory(resolvers.asFactory())
        .usePlaintext().intercept(provider.interceptor()).build();
  }

  private static void close(ManagedChannel ch) throws InterruptedException {
    ch.shutdownNow();
    ch.awaitTermination(10, TimeUnit.SECONDS);
  }

  @Test
  void theSessionTargetReadsConnmgrAllow() throws Exception {
    EchoServer allowed = server(1);
    EchoServer elsewhere = server(2);
    put(1, allowed.address(), 1);
    put(2, localhost(elsewhere), 1);
    String before = System.getProperty("connmgr.allow");
    System.setProperty("connmgr.allow", "127.0.0.0/8, *.example.com");
    ManagedChannel ch;
    try {
      ch = channel(new SessionNameResolverProvider(registry));
      assertThat(echo(ch, "x").getServerId()).isEqualTo(1); // resolution starts with the first call
    } finally {
      restore(before);
    }
    try {
      for (int i = 0; i < 4; i++) {
        assertThat(echo(ch, "x").getServerId()).isEqualTo(1);
      }
      assertThat(elsewhere.callsServed()).isZero();
      assertThat(logs.lines(Level.WARN, "is not allowed by connmgr.allow")).hasSize(1);

      CompletableFuture<Status> held = hold(ch, 0);
      await().atMost(Duration.ofSeconds(5)).until(() -> allowed.inFlightHolds() == 1);
      put(1, localhost(allowed), 2); // moved off the list: its calls fail at once
      Status st = held.get(5, TimeUnit.SECONDS);
      assertThat(st.getCode()).isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(st.getDescription()).contains("which is not an allowed address");
    } finally {
      close(ch);
    }
  }

  @Test
  void aBadConnmgrAllowFailsTheChannelsResolutionNamingIt() throws Exception {
    EchoServer allowed = server(1);
    put(1, allowed.address(), 1);
    String before = System.getProperty("connmgr.allow");
    System.setProperty("connmgr.allow", "127.0.0.0/8,10.0.0.0/33");
    ManagedChannel ch = channel(new SessionNameResolverProvider(registry));
    try {
      assertThatThrownBy(() -> echo(ch, "x")).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
        assertThat(e.getStatus().getDescription())
            .contains("connmgr.allow: allow-list entry '10.0.0.0/33': the prefix length 33 is outside 0..32");
      });
    } finally {
      restore(before);
      close(ch);
    }
    assertThat(allowed.callsServed()).isZero();
  }

  @Test
  void aProviderWithAnAllowListOfItsOwn() throws Exception {
    EchoServer allowed = server(1);
    EchoServer elsewhere = server(2);
    put(1, allowed.address(), 1);
    put(2, localhost(elsewhere), 1);
    ManagedChannel ch = channel(new SessionNameResolverProvider(registry, AddressAllowList.of("localhost")));
    try {
      // a host name is resolved off the channel's synchronization context: published a moment later
      await().atMost(Duration.ofSeconds(10)).ignoreExceptions().until(() -> echo(ch, "x").getServerId() == 2);
      for (int i = 0; i < 3; i++) {
        assertThat(echo(ch, "x").getServerId()).isEqualTo(2);
      }
      assertThat(allowed.callsServed()).isZero();
    } finally {
      close(ch);
    }
  }

  private static void restore(String before) {
    if (before == null) {
      System.clearProperty("connmgr.allow");
    } else {
      System.setProperty("connmgr.allow", before);
    }
  }
}
