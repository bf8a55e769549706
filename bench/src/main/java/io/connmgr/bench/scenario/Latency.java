package io.connmgr.bench.scenario;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Arrays;

/**
 * The latencies of one series (connmgr or a baseline), kept exactly: every sample in nanoseconds, percentiles by
 * nearest rank. Thread-safe (samples may be recorded from callbacks).
 */
public final class Latency {

  private final String label;
  private long[] samples = new long[256];
  private int size;

  /** A series named {@code label} in reports and charts. */
  public Latency(String label) {
    this.label = label;
  }

  /** The name shown in reports and charts. */
  public String label() {
    return label;
  }

  /** Records one sample. */
  public synchronized void record(long nanos) {
    if (size == samples.length) {
      samples = Arrays.copyOf(samples, size * 2);
    }
    samples[size++] = Math.max(0, nanos);
  }

  /** How many samples. */
  public synchronized int count() {
    return size;
  }

  /** The samples, sorted ascending. */
  public synchronized long[] sorted() {
    long[] s = Arrays.copyOf(samples, size);
    Arrays.sort(s);
    return s;
  }

  /** The {@code q}-th percentile (0..100) in milliseconds, by nearest rank; {@code NaN} without samples. */
  public double percentileMs(double q) {
    long[] s = sorted();
    if (s.length == 0) {
      return Double.NaN;
    }
    int rank = (int) Math.ceil(q / 100.0 * s.length);
    return s[Math.min(s.length - 1, Math.max(0, rank - 1))] / 1e6;
  }

  /** p50. */
  public double p50Ms() {
    return percentileMs(50);
  }

  /** p99. */
  public double p99Ms() {
    return percentileMs(99);
  }

  /** The largest sample in milliseconds. */
  public double maxMs() {
    return percentileMs(100);
  }

  /** Writes {@code trials, minMs, p50Ms, p90Ms, p99Ms, maxMs, meanMs} into {@code node}; returns it. */
  public ObjectNode writeTo(ObjectNode node) {
    long[] s = sorted();
    node.put("trials", s.length);
    node.put("minMs", Results.round(percentileMs(0)));
    node.put("p50Ms", Results.round(percentileMs(50)));
    node.put("p90Ms", Results.round(percentileMs(90)));
    node.put("p99Ms", Results.round(percentileMs(99)));
    node.put("maxMs", Results.round(percentileMs(100)));
    node.put("meanMs", Results.round(s.length == 0 ? Double.NaN : Arrays.stream(s).average().orElse(0) / 1e6));
    return node;
  }
}
