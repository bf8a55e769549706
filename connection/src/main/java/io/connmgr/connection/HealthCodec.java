package io.connmgr.connection;

import io.grpc.MethodDescriptor;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The two grpc.health.v1 methods connmgr calls, with their messages coded by hand: a request is one string field
 * ({@code service = 1}), a response one enum field ({@code status = 1}). Two one-field messages do not justify
 * grpc-services and protobuf-java on every client's class path. Unknown fields are skipped, as protobuf does.
 */
final class HealthCodec {

  /** {@code HealthCheckResponse.ServingStatus}. */
  static final int UNKNOWN = 0;
  static final int SERVING = 1;
  static final int NOT_SERVING = 2;
  static final int SERVICE_UNKNOWN = 3;

  private static final MethodDescriptor.Marshaller<String> REQUEST = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(String service) {
      byte[] name = service.getBytes(StandardCharsets.UTF_8);
      if (name.length == 0) {
        return new ByteArrayInputStream(new byte[0]); // proto3: an empty string is not written
      }
      byte[] out = new byte[1 + varintSize(name.length) + name.length];
      out[0] = 0x0A; // field 1, length-delimited
      int i = writeVarint(out, 1, name.length);
      System.arraycopy(name, 0, out, i, name.length);
      return new ByteArrayInputStream(out);
    }

    @Override
    public String parse(InputStream stream) {
      throw new UnsupportedOperationException("connmgr only sends health requests");
    }
  };

  private static final MethodDescriptor.Marshaller<Integer> RESPONSE = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(Integer value) {
      throw new UnsupportedOperationException("connmgr only reads health responses");
    }

    @Override
    public Integer parse(InputStream stream) {
      try {
        return status(stream.readAllBytes());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  };

  /** {@code grpc.health.v1.Health/Check}. */
  static final MethodDescriptor<String, Integer> CHECK = MethodDescriptor.<String, Integer>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY)
      .setFullMethodName("grpc.health.v1.Health/Check")
      .setRequestMarshaller(REQUEST)
      .setResponseMarshaller(RESPONSE)
      .setSafe(true)
      .build();

  /** {@code grpc.health.v1.Health/Watch}. */
  static final MethodDescriptor<String, Integer> WATCH = MethodDescriptor.<String, Integer>newBuilder()
      .setType(MethodDescriptor.MethodType.SERVER_STREAMING)
      .setFullMethodName("grpc.health.v1.Health/Watch")
      .setRequestMarshaller(REQUEST)
      .setResponseMarshaller(RESPONSE)
      .setSafe(true)
      .build();

  private HealthCodec() {}

  /** The {@code status} field of an encoded {@code HealthCheckResponse} ({@link #UNKNOWN} when absent). */
  static int status(byte[] b) {
    int i = 0;
    int status = UNKNOWN;
    while (i < b.length) {
      long[] tag = readVarint(b, i);
      i = (int) tag[1];
      int field = (int) (tag[0] >>> 3);
      int wire = (int) (tag[0] & 7);
      switch (wire) {
        case 0 -> {
          long[] v = readVarint(b, i);
          i = (int) v[1];
          if (field == 1) {
            status = (int) v[0];
          }
        }
        case 1 -> i += 8;
        case 2 -> {
          long[] len = readVarint(b, i);
          i = (int) len[1] + (int) len[0];
        }
        case 5 -> i += 4;
        default -> throw new IllegalArgumentException("malformed health response: wire type " + wire);
      }
    }
    return status;
  }

  /** {@code {value, next index}}. */
  private static long[] readVarint(byte[] b, int i) {
    long v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= b.length) {
        throw new IllegalArgumentException("malformed health response: truncated varint");
      }
      byte x = b[i++];
      v |= (long) (x & 0x7F) << shift;
      if (x >= 0) {
        return new long[] {v, i};
      }
    }
    throw new IllegalArgumentException("malformed health response: varint too long");
  }

  private static int varintSize(int v) {
    int n = 1;
    while ((v >>>= 7) != 0) {
      n++;
    }
    return n;
  }

  private static int writeVarint(byte[] out, int i, int v) {
    while ((v & ~0x7F) != 0) {
      out[i++] = (byte) ((v & 0x7F) | 0x80);
      v >>>= 7;
    }
    out[i++] = (byte) v;
    return i;
  }
}
