package io.connmgr.bench.scenario;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a run of the {@link io.connmgr.bench.ScenarioRunner} found: the JSON tree written to {@code latest.json}
 * (nested objects, so {@code failFast.p50Ms} is {@code root.failFast.p50Ms}), the report's sections (one table per
 * scenario: connmgr, baseline, ratio, goal, met or missed) and the charts. Scenarios run one after another on one
 * thread; not thread-safe.
 */
public final class Results {

  /** The mapper used for {@code latest.json}. */
  public static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private final ObjectNode root = MAPPER.createObjectNode();
  private final ArrayNode goals = MAPPER.createArrayNode();
  private final List<Section> sections = new ArrayList<>();
  private final List<Chart> charts = new ArrayList<>();

  /** The JSON root. */
  public ObjectNode root() {
    return root;
  }

  /** The object at {@code key} under the root, created if absent. */
  public ObjectNode node(String key) {
    return root.has(key) ? (ObjectNode) root.get(key) : root.putObject(key);
  }

  /** The goals, as written to {@code latest.json}. */
  public ArrayNode goals() {
    return goals;
  }

  /** The report sections in order. */
  public List<Section> sections() {
    return sections;
  }

  /** The charts in order. */
  public List<Chart> charts() {
    return charts;
  }

  /** Starts a report section. */
  public Section section(String title, String intro) {
    Section s = new Section(title, intro);
    sections.add(s);
    return s;
  }

  /** Adds a chart (written as SVG beside the report). */
  public void chart(Chart c) {
    charts.add(c);
  }

  /**
   * Records a goal in {@code latest.json} and returns its status for the report's table: {@code met} or
   * {@code MISSED}.
   */
  public String goal(String name, String goal, double value, String unit, boolean met) {
    ObjectNode g = goals.addObject();
    g.put("name", name);
    g.put("goal", goal);
    g.put("value", round(value));
    g.put("unit", unit);
    g.put("met", met);
    return met ? "met" : "MISSED";
  }

  /** One table of the report, with notes under it. */
  public static final class Section {
    public final String title;
    public final String intro;
    public final List<String[]> rows = new ArrayList<>();
    public final List<String> notes = new ArrayList<>();

    Section(String title, String intro) {
      this.title = title;
      this.intro = intro;
    }

    /** A row: what is measured, connmgr's figure, the baseline's, their ratio, the goal and its status. */
    public Section row(String what, String connmgr, String baseline, String ratio, String goal, String status) {
      rows.add(new String[] {what, connmgr, baseline, ratio, goal, status});
      return this;
    }

    /** A paragraph under the table. */
    public Section note(String text) {
      notes.add(text);
      return this;
    }
  }

  /** A latency CDF: x is the latency (log scale), y the share of trials at most that fast. */
  public record Chart(String file, String title, List<Latency> series, String caption) {}

  /** {@code value} rounded to 3 decimals (JSON-friendly; NaN stays NaN). */
  public static double round(double value) {
    if (Double.isNaN(value) || Double.isInfinite(value)) {
      return value;
    }
    return Math.round(value * 1000.0) / 1000.0;
  }

  /** A duration for the report: {@code 1.23 ms}, {@code 12.3 ms}, {@code 9,987 ms}, {@code 12 µs}. */
  public static String ms(double ms) {
    if (Double.isNaN(ms)) {
      return "n/a";
    }
    if (ms < 0.1) {
      return String.format(Locale.ROOT, "%.1f µs", ms * 1000);
    }
    if (ms < 10) {
      return String.format(Locale.ROOT, "%.2f ms", ms);
    }
    if (ms < 100) {
      return String.format(Locale.ROOT, "%.1f ms", ms);
    }
    return String.format(Locale.ROOT, "%,.0f ms", ms);
  }

  /** {@code ×1.23} (how many times {@code a} is {@code b}). */
  public static String ratio(double a, double b) {
    if (Double.isNaN(a) || Double.isNaN(b) || b == 0) {
      return "n/a";
    }
    double r = a / b;
    return r >= 100 ? String.format(Locale.ROOT, "×%,.0f", r) : String.format(Locale.ROOT, "×%.2f", r);
  }

  /** A byte count for the report: {@code 1.2 KiB}, {@code 312 B}. */
  public static String bytes(double b) {
    if (Math.abs(b) >= 1024 * 1024) {
      return String.format(Locale.ROOT, "%.1f MiB", b / 1024 / 1024);
    }
    if (Math.abs(b) >= 1024) {
      return String.format(Locale.ROOT, "%.1f KiB", b / 1024);
    }
    return String.format(Locale.ROOT, "%.0f B", b);
  }
}
