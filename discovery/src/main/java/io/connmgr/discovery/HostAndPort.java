package io.connmgr.discovery;

/**
 * A parsed {@code host:port} address. Immutable and thread-safe.
 *
 * @param host the host name or IP literal, without brackets
 * @param port the port, in 1..65535
 */
public record HostAndPort(String host, int port) {

  /** Validates. */
  public HostAndPort {
    if (host == null || host.isEmpty()) {
      throw new IllegalArgumentException("address has no host");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("port " + port + " is outside 1..65535");
    }
  }

  /**
   * Parses {@code host:port} or {@code [v6]:port}.
   *
   * @throws IllegalArgumentException naming what is wrong with {@code address}
   */
  public static HostAndPort parse(String address) {
    if (address == null || address.isEmpty()) {
      throw new IllegalArgumentException("address is empty");
    }
    String host;
    String portText;
    if (address.startsWith("[")) {
      int close = address.indexOf(']');
      if (close < 0 || close + 1 >= address.length() || address.charAt(close + 1) != ':') {
        throw new IllegalArgumentException("address '" + address + "' is not [host]:port");
      }
      host = address.substring(1, close);
      portText = address.substring(close + 2);
    } else {
      int colon = address.lastIndexOf(':');
      if (colon <= 0 || address.indexOf(':') != colon) {
        throw new IllegalArgumentException("address '" + address + "' is not host:port");
      }
      host = address.substring(0, colon);
      portText = address.substring(colon + 1);
    }
    int port;
    try {
      port = Integer.parseInt(portText);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("address '" + address + "' has no numeric port");
    }
    if (port < 1 || port > 65535) {
      throw new IllegalArgumentException("address '" + address + "' has port " + port + " outside 1..65535");
    }
    return new HostAndPort(host, port);
  }

  @Override
  public String toString() {
    return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
  }
}
