package io.connmgr.connection;

import io.connmgr.discovery.Session;

/**
 * The identity of one server instance: role, server id and address. A server that registers again with another id
 * or address is a new instance and gets a new channel. Immutable.
 */
public record ServerKey(String role, long serverId, String address) {

  /** The key of {@code session}. */
  public static ServerKey of(Session session) {
    return new ServerKey(session.role(), session.serverId(), session.address());
  }

  /** The host of {@link #address()}. */
  public String host() {
    return io.connmgr.discovery.HostAndPort.parse(address).host();
  }

  /** The port of {@link #address()}. */
  public int port() {
    return io.connmgr.discovery.HostAndPort.parse(address).port();
  }

  /** {@code role-id (address)}, as used in statuses and logs. */
  @Override
  public String toString() {
    return role + "-" + serverId + " (" + address + ")";
  }
}
