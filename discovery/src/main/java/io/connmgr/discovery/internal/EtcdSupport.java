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

  public static DiscoveryException unavailable(String what, Throwable t) {
    Throwable cause = unwrap(t);
    if (cause instanceof DiscoveryException d) {
      return d;
    }
    return new DiscoveryException(DiscoveryException.Code.UNAVAILABLE, what + " failed: " + cause, cause);
  }
}
