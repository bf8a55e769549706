package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;

import io.connmgr.discovery.InMemoryRegistry;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionCodec;
import io.connmgr.testservers.EchoServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * What the connection tests over the in-memory registry share: real Netty echo servers of one role whose sessions are
 * put under leases of their own, raw gRPC servers, and the managers under test; {@link #close()} (in each test's
 * {@code @AfterEach}) ends them all and checks that every manager terminated.
 */
final class TestCluster implements AutoCloseable {

  final InMemoryRegistry registry = InMemoryRegistry.create();
  final Map<Long, EchoServer> servers = new HashMap<>();
  /** The session registered for each server id. */
  final Map<Long, Session> sessions = new HashMap<>();
  final List<io.grpc.Server> rawServers = new ArrayList<>();
  private final Map<Long, Long> leases = new HashMap<>();
  private final List<ConnectionManager> managers = new ArrayList<>();
  private final String role;

  TestCluster(String role) {
    this.role = role;
  }

  /** Starts echo server {@code id} and registers its session. */
  EchoServer server(long id) {
    return server(id, false);
  }

  /** Starts echo server {@code id} and registers its session, exclusive or not. */
  EchoServer server(long id, boolean exclusive) {
    EchoServer s = EchoServer.start(id, role);
    servers.put(id, s);
    register(id, s.address(), exclusive);
    return s;
  }

  /** Registers session {@code id} at {@code address} under a lease of its own. */
  Session register(long id, String address) {
    return register(id, address, false);
  }

  Session register(long id, String address, boolean exclusive) {
    Session session = Session.builder(role, address).serverId(id).exclusive(exclusive).build();
    long lease = registry.kv().grantLease(Duration.ofSeconds(60));
    leases.put(id, lease);
    sessions.put(id, session);
    registry.kv().put(registry.layout().sessionKey(role, id), SessionCodec.encode(session), lease);
    return session;
  }

  /** Revokes session {@code id}'s lease: its key goes. */
  void deregister(long id) {
    registry.kv().revokeLease(leases.get(id));
  }

  /** Re-puts session {@code id} with {@code "Stopping":true}. */
  void markStopping(long id) {
    Session s = Session.builder(role, servers.get(id).address()).serverId(id).build().withStopping(true);
    registry.kv().put(registry.layout().sessionKey(role, id), SessionCodec.encode(s), leases.get(id));
  }

  /** Puts {@code session} (of server {@code id}) at the role's active key, under that server's lease. */
  void makeActive(long id, Session session) {
    registry.kv().put(registry.layout().activeKey(role), SessionCodec.encode(session), leases.get(id));
  }

  /** Builds a manager, starts it and waits for its first snapshot; closed with the cluster. */
  ConnectionManager manager(ConnectionOptions.Builder options) throws Exception {
    ConnectionManager cm = ConnectionManager.create(options.build());
    managers.add(cm);
    cm.start().get(5, TimeUnit.SECONDS);
    return cm;
  }

  @Override
  public void close() throws Exception {
    managers.forEach(ConnectionManager::close);
    for (ConnectionManager cm : managers) {
      assertThat(cm.awaitTermination(Duration.ofSeconds(10))).isTrue();
    }
    servers.values().forEach(EchoServer::close);
    for (io.grpc.Server s : rawServers) {
      s.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    registry.close();
  }
}
