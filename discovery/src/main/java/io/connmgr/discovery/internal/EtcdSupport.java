package io.connmgr.discovery.internal;

import io.connmgr.discovery.DiscoveryException;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.KeyValue;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Conversions between jetcd and connmgr types. */
public final class EtcdSupport {

  private EtcdSupport() {}

  public static ByteSequence bytes(String s) {
    return ByteSequence.from(s, StandardCharsets.UTF_8);
  }

  public static String string(ByteSequence b) {
    return b.toString(StandardCharsets.UTF_8);
  }

  public static RawKeyValue raw(KeyValue kv) {
    return new RawKeyValue(string(kv.getKey()), kv.getValue().getBytes(), kv.getModRevision(), kv.getLease());
  }

  public static List<RawKeyValue> listing(List<KeyValue> kvs) {
    List<RawKeyValue> out = new ArrayList<>(kvs.size());
    for (KeyValue kv : kvs) {
      out.add(raw(kv));
    }
    return out;
  }

  public static Throwable unwrap(Throwable t) {
    while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  /** Whether {@code t} says the requested revision was compacted (jetcd reports it as a plain OUT_OF_RANGE). */
  public static boolean isCompaction(Throwable t) {
    if (t instanceof io.etcd.jetcd.common.exception.CompactedException) {
      return true;
    }
    String m = String.valueOf(t.getMessage());
    return m.contains("required revision has been compacted");
  }

  /**
   * The failure of an etcd request as a {@link DiscoveryException}: {@code UNAUTHENTICATED} or
   * {@code PERMISSION_DENIED} when etcd refused the credentials or the request, otherwise {@code UNAVAILABLE}; the
   * message says what was being done and, in one line, why ({@link #describe}).
   */
  public static DiscoveryException unavailable(String what, Throwable t) {
    Throwable cause = unwrap(t);
    if (cause instanceof DiscoveryException d) {
      return d;
    }
    return new DiscoveryException(code(cause), what + " failed: " + describe(cause), cause);
  }

  /** The code of an etcd failure: credentials refused, permission denied, or (anything else) unavailable. */
  public static DiscoveryException.Code code(Throwable t) {
    String all = messages(t);
    if (all.contains("authentication failed") || all.contains("user name is empty")
        || all.contains("invalid auth token") || all.contains("UNAUTHENTICATED")) {
      return DiscoveryException.Code.UNAUTHENTICATED;
    }
    if (all.contains("permission denied")) {
      return DiscoveryException.Code.PERMISSION_DENIED;
    }
    return DiscoveryException.Code.UNAVAILABLE;
  }

  /**
   * One line saying why an etcd request failed, for logs and exception messages: refused credentials, a missing
   * permission, a TLS problem ({@link PemFiles#describeHandshakeFailure}), or the error itself. Never holds a
   * password: jetcd's and etcd's messages do not carry the credentials.
   */
  public static String describe(Throwable t) {
    Throwable cause = unwrap(t);
    String all = messages(cause);
    if (all.contains("authentication failed")) {
      return "etcd refused the user name or password (etcdserver: authentication failed, invalid user ID or password)";
    }
    if (all.contains("user name is empty")) {
      return "etcd requires authentication: give a user and password (or a client certificate whose CN is a user)";
    }
    if (all.contains("permission denied")) {
      return "etcd denied the request: the user's roles do not allow it on these keys (etcdserver: permission denied)";
    }
    String tls = PemFiles.describeHandshakeFailure(cause);
    if (tls != null) {
      return tls.replace("the server", "etcd");
    }
    // jetcd's EtcdException and grpc's status exceptions say it all in their message ("UNAVAILABLE: io exception")
    String m = cause == null ? null : cause.getMessage();
    return m == null || m.isBlank() ? String.valueOf(cause) : m;
  }

  private static String messages(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = t; c != null && b.length() < 4096; c = c.getCause() == c ? null : c.getCause()) {
      b.append(c).append(" | ");
    }
    return b.toString();
  }
}
