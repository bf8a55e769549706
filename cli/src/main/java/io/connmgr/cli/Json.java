package io.connmgr.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.connmgr.discovery.Session;
import io.connmgr.discovery.SessionEvent;

/** JSON shapes printed by the CLI. */
final class Json {
  static final ObjectMapper MAPPER = new ObjectMapper();

  private Json() {}

  static ObjectNode session(Session s) {
    ObjectNode n = MAPPER.createObjectNode();
    n.put("key", s.key());
    n.put("role", s.role());
    n.put("serverId", s.serverId());
    n.put("address", s.address());
    n.put("exclusive", s.exclusive());
    n.put("stopping", s.stopping());
    n.put("version", s.version());
    n.put("leaseId", s.leaseId());
    n.put("hostName", s.hostName());
    return n;
  }

  static ObjectNode event(SessionEvent e) {
    ObjectNode n = MAPPER.createObjectNode();
    n.put("type", e.type().name());
    n.put("key", e.key());
    n.put("role", e.session().role());
    n.put("serverId", e.session().serverId());
    n.put("address", e.session().address());
    n.put("stopping", e.session().stopping());
    n.put("revision", e.revision());
    if (e.type() == SessionEvent.Type.REMOVED) {
      n.put("reason", e.reason());
    }
    return n;
  }
}
