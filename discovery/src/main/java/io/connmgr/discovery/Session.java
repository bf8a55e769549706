package io.connmgr.discovery;

import java.util.Map;
import java.util.Objects;

/**
 * One server's session as registered under the session prefix: who it is and where it listens.
 *
 * <p>Immutable and thread-safe. Field names follow Milvus' session JSON ({@code ServerID}, {@code ServerName},
 * {@code Address}, ...); see {@link SessionCodec}. Absent optional text fields are empty strings, never {@code null}.
 *
 * @param key        the full etcd key that holds this session (for example {@code by-dev/meta/session/querynode-7});
 *                   empty for a session not yet registered
 * @param role       the server's role, Milvus' {@code ServerName}; its case is kept ({@code QueryNode} and
 *                   {@code querynode} are different roles)
 * @param serverId   Milvus' {@code ServerID}, never negative
 * @param address    {@code host:port} the server listens on (IPv6 hosts in brackets)
 * @param exclusive  whether the role has one active server at a time (its {@code <role>} key names the active one)
 * @param stopping   the server announced it is stepping down: no new calls should go to it
 * @param version    the server's version ({@code Version}), empty when the session predates versions
 * @param leaseId    the etcd lease the key is attached to, 0 when none
 * @param hostName   the server's host name, may be empty
 * @param labels     {@code ServerLabels}; unmodifiable
 * @param triggerKill Milvus' {@code TriggerKill} flag
 * @param attributes every other top-level field of the stored JSON (for example {@code IndexEngineVersion} or fields of
 *                   newer servers), as raw JSON text keyed by field name; kept so a session round-trips unchanged
 */
public record Session(
    String key,
    String role,
    long serverId,
    String address,
    boolean exclusive,
    boolean stopping,
    String version,
    long leaseId,
    String hostName,
    Map<String, String> labels,
    boolean triggerKill,
    Map<String, String> attributes) {

  /** Validates and copies. */
  public Session {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(address, "address");
    version = version == null ? "" : version;
    hostName = hostName == null ? "" : hostName;
    labels = labels == null ? Map.of() : Map.copyOf(labels);
    attributes = attributes == null ? Map.of() : Map.copyOf(attributes);
    if (role.isEmpty()) {
      throw new IllegalArgumentException("role must not be empty");
    }
    if (serverId < 0) {
      throw new IllegalArgumentException("serverId must not be negative: " + serverId);
    }
    HostAndPort.parse(address); // throws IllegalArgumentException naming the problem
  }

  /** A builder for a session to register; {@link #key()} is filled in by the registry. */
  public static Builder builder(String role, String address) {
    return new Builder(role, address);
  }

  /** This session's name as used in logs and statuses: {@code <role>-<serverId>}. */
  public String name() {
    return role + "-" + serverId;
  }

  /** The host part of {@link #address()}, without IPv6 brackets. */
  public String host() {
    return HostAndPort.parse(address).host();
  }

  /** The port part of {@link #address()}, in 1..65535. */
  public int port() {
    return HostAndPort.parse(address).port();
  }

  /** A copy with another key. */
  public Session withKey(String newKey) {
    return new Session(newKey, role, serverId, address, exclusive, stopping, version, leaseId, hostName, labels,
        triggerKill, attributes);
  }

  /** A copy with the stopping flag set. */
  public Session withStopping(boolean newStopping) {
    return new Session(key, role, serverId, address, exclusive, newStopping, version, leaseId, hostName, labels,
        triggerKill, attributes);
  }

  /** A copy with another lease. */
  public Session withLeaseId(long newLeaseId) {
    return new Session(key, role, serverId, address, exclusive, stopping, version, newLeaseId, hostName, labels,
        triggerKill, attributes);
  }

  /** A copy with another server id. */
  public Session withServerId(long newServerId) {
    return new Session(key, role, newServerId, address, exclusive, stopping, version, leaseId, hostName, labels,
        triggerKill, attributes);
  }

  @Override
  public String toString() {
    return name() + " (" + address + ")" + (stopping ? " stopping" : "") + (exclusive ? " exclusive" : "");
  }

  /** Builds a {@link Session}; not thread-safe. */
  public static final class Builder {
    private final String role;
    private final String address;
    private long serverId;
    private boolean exclusive;
    private String version = "";
    private String hostName = "";
    private Map<String, String> labels = Map.of();
    private Map<String, String> attributes = Map.of();

    private Builder(String role, String address) {
      this.role = role;
      this.address = address;
    }

    /** The server id; 0 by default, or allocated by the registry when asked to. */
    public Builder serverId(long id) {
      this.serverId = id;
      return this;
    }

    /** Whether the role has one active server at a time. */
    public Builder exclusive(boolean value) {
      this.exclusive = value;
      return this;
    }

    /** The server's version, for example {@code 2.4.0}. */
    public Builder version(String value) {
      this.version = Objects.requireNonNull(value, "version");
      return this;
    }

    /** The server's host name. */
    public Builder hostName(String value) {
      this.hostName = Objects.requireNonNull(value, "hostName");
      return this;
    }

    /** Labels ({@code ServerLabels}). */
    public Builder labels(Map<String, String> value) {
      this.labels = Objects.requireNonNull(value, "labels");
      return this;
    }

    /** Extra raw JSON attributes, field name to JSON text. */
    public Builder attributes(Map<String, String> value) {
      this.attributes = Objects.requireNonNull(value, "attributes");
      return this;
    }

    /** The session, with an empty key and no lease. */
    public Session build() {
      return new Session("", role, serverId, address, exclusive, false, version, 0, hostName, labels, false,
          attributes);
    }
  }
}
