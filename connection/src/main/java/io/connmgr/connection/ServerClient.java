package io.connmgr.connection;

import io.connmgr.discovery.Session;
import io.grpc.Channel;

/**
 * One server of a role as listed by {@link ConnectionManager#clients(String)}: its session, its state and health at the
 * time of the listing, and its channel. Immutable; the channel stays usable (and fails fast once the server is gone).
 */
public record ServerClient(ServerKey key, Session session, ServerState state, ServerHealth health, Channel channel) {}
