package io.connmgr.discovery;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads and writes Milvus' session JSON, with its Go field names: {@code ServerID}, {@code ServerName},
 * {@code Address}, {@code Exclusive}, {@code Stopping}, {@code TriggerKill}, {@code Version}, {@code LeaseID},
 * {@code HostName}, {@code ServerLabels}. Unknown fields (such as {@code IndexEngineVersion}) are kept in
 * {@link Session#attributes()} and written back. The older format without {@code Version} is accepted.
 *
 * <p>Stateless and thread-safe; {@link #decode} and {@link #encode} never block.
 */
public final class SessionCodec {

  /** Values larger than this are rejected without being parsed. */
  public static final int MAX_VALUE_BYTES = 64 * 1024;

  private static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
          .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(32).build())
          .build())
      .build();
  private static final Pattern VERSION = Pattern.compile(
      "v?\\d+\\.\\d+\\.\\d+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?");
  private static final Set<String> KNOWN = Set.of("ServerID", "ServerName", "Address", "Exclusive", "Stopping",
      "TriggerKill", "Version", "LeaseID", "HostName", "ServerLabels");

  private SessionCodec() {}

  /**
   * Parses the value stored at {@code key}.
   *
   * @throws DiscoveryException with {@link DiscoveryException.Code#INVALID_SESSION} and a message naming the key and
   *                            the problem, if the value is not a valid session
   */
  public static Session decode(String key, byte[] value) {
    if (value.length > MAX_VALUE_BYTES) {
      throw invalid(key, "value of " + value.length + " bytes exceeds " + MAX_VALUE_BYTES);
    }
    JsonNode root;
    try {
      root = MAPPER.readTree(value);
    } catch (IOException e) {
      throw invalid(key, "not JSON (" + firstLine(e) + ")");
    }
    if (root == null || !root.isObject()) {
      throw invalid(key, "not a JSON object");
    }
    long serverId = requiredLong(key, root, "ServerID");
    if (serverId < 0) {
      throw invalid(key, "ServerID is negative: " + serverId);
    }
    String role = requiredText(key, root, "ServerName");
    String address = requiredText(key, root, "Address");
    try {
      HostAndPort.parse(address);
    } catch (IllegalArgumentException e) {
      throw invalid(key, "Address: " + e.getMessage());
    }
    String version = optionalText(key, root, "Version");
    if (!version.isEmpty() && !VERSION.matcher(version).matches()) {
      throw invalid(key, "Version '" + version + "' is not a semantic version");
    }
    long leaseId = root.hasNonNull("LeaseID") ? requiredLong(key, root, "LeaseID") : 0L;
    Map<String, String> labels = new LinkedHashMap<>();
    JsonNode labelNode = root.get("ServerLabels");
    if (labelNode != null && !labelNode.isNull()) {
      if (!labelNode.isObject()) {
        throw invalid(key, "ServerLabels is not an object");
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = labelNode.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getValue().isTextual()) {
          throw invalid(key, "ServerLabels." + e.getKey() + " is not a string");
        }
        labels.put(e.getKey(), e.getValue().asText());
      }
    }
    Map<String, String> attributes = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!KNOWN.contains(e.getKey())) {
        attributes.put(e.getKey(), e.getValue().toString());
      }
    }
    try {
      return new Session(key, role, serverId, address,
          optionalBoolean(key, root, "Exclusive"), optionalBoolean(key, root, "Stopping"), version, leaseId,
          optionalText(key, root, "HostName"), labels, optionalBoolean(key, root, "TriggerKill"), attributes);
    } catch (IllegalArgumentException e) {
      throw invalid(key, e.getMessage());
    }
  }

  /** Writes {@code session} as Milvus' JSON (the key itself is not part of the value). */
  public static byte[] encode(Session session) {
    ObjectNode node = MAPPER.createObjectNode();
    node.put("ServerID", session.serverId());
    node.put("ServerName", session.role());
    node.put("Address", session.address());
    node.put("Exclusive", session.exclusive());
    node.put("Stopping", session.stopping());
    node.put("TriggerKill", session.triggerKill());
    if (!session.version().isEmpty()) {
      node.put("Version", session.version());
    }
    if (session.leaseId() != 0) {
      node.put("LeaseID", session.leaseId());
    }
    if (!session.hostName().isEmpty()) {
      node.put("HostName", session.hostName());
    }
    if (!session.labels().isEmpty()) {
      ObjectNode labels = node.putObject("ServerLabels");
      session.labels().forEach(labels::put);
    }
    session.attributes().forEach((name, json) -> {
      try {
        node.set(name, MAPPER.readTree(json));
      } catch (JsonProcessingException e) {
        node.put(name, json);
      }
    });
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot encode " + session, e);
    }
  }

  /** {@link #encode} as a string. */
  public static String encodeToString(Session session) {
    return new String(encode(session), StandardCharsets.UTF_8);
  }

  private static long requiredLong(String key, JsonNode root, String field) {
    JsonNode n = root.get(field);
    if (n == null || n.isNull()) {
      throw invalid(key, field + " is missing");
    }
    if (!n.isIntegralNumber() || !n.canConvertToLong()) {
      throw invalid(key, field + " is not an integer: " + abbreviate(n.toString()));
    }
    return n.longValue();
  }

  private static String requiredText(String key, JsonNode root, String field) {
    JsonNode n = root.get(field);
    if (n == null || n.isNull()) {
      throw invalid(key, field + " is missing");
    }
    if (!n.isTextual()) {
      throw invalid(key, field + " is not a string: " + abbreviate(n.toString()));
    }
    if (n.asText().isEmpty()) {
      throw invalid(key, field + " is empty");
    }
    return n.asText();
  }

  private static String optionalText(String key, JsonNode root, String field) {
    JsonNode n = root.get(field);
    if (n == null || n.isNull()) {
      return "";
    }
    if (!n.isTextual()) {
      throw invalid(key, field + " is not a string: " + abbreviate(n.toString()));
    }
    return n.asText();
  }

  private static boolean optionalBoolean(String key, JsonNode root, String field) {
    JsonNode n = root.get(field);
    if (n == null || n.isNull()) {
      return false;
    }
    if (!n.isBoolean()) {
      throw invalid(key, field + " is not a boolean: " + abbreviate(n.toString()));
    }
    return n.booleanValue();
  }

  private static String abbreviate(String s) {
    return s.length() <= 40 ? s : s.substring(0, 40) + "...";
  }

  private static String firstLine(Exception e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return abbreviate(nl < 0 ? m : m.substring(0, nl));
  }

  private static DiscoveryException invalid(String key, String problem) {
    return new DiscoveryException(DiscoveryException.Code.INVALID_SESSION, "key '" + key + "': " + problem);
  }
}
