package io.connmgr.bench.scenario;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;

/** Renders {@link Results} as the markdown report written beside {@code latest.json}. */
public final class MarkdownReport {

  private MarkdownReport() {}

  /** The report. */
  public static String render(Results r) {
    StringBuilder b = new StringBuilder();
    JsonNode root = r.root();
    b.append("# connmgr scenario results (").append(root.path("mode").asText()).append(" mode)\n\n");
    JsonNode m = root.path("machine");
    b.append("Measured ").append(root.path("timestamp").asText()).append(" on ").append(m.path("cores").asInt())
        .append(" cores, ").append(m.path("os").asText()).append(", ").append(m.path("jdk").asText()).append("; ");
    JsonNode v = root.path("versions");
    StringBuilder vs = new StringBuilder();
    for (Map.Entry<String, JsonNode> e : v.properties()) {
      vs.append(vs.length() == 0 ? "" : ", ").append(e.getKey()).append(' ').append(e.getValue().asText());
    }
    b.append(vs).append(". Every baseline was measured in the same run, against the same etcd and servers. ")
        .append("Wall time: ").append(root.path("wallSeconds").asText()).append(" s.\n\n");
    if ("quick".equals(root.path("mode").asText())) {
      b.append("> **Quick mode**: few trials and a shortened baseline deadline; it checks that the harness runs end "
          + "to end. Its numbers are not the published figures.\n\n");
    }
    b.append("## Goals\n\n| goal | value | status |\n|---|---|---|\n");
    for (JsonNode g : r.goals()) {
      b.append("| ").append(g.path("name").asText()).append(": ").append(g.path("goal").asText()).append(" | ")
          .append(g.path("value").asText()).append(' ').append(g.path("unit").asText()).append(" | ")
          .append(g.path("met").asBoolean() ? "met" : "**MISSED**").append(" |\n");
    }
    b.append('\n');
    for (Results.Section s : r.sections()) {
      b.append("## ").append(s.title).append("\n\n").append(s.intro).append("\n\n");
      b.append("| what | connmgr | baseline (same run) | ratio | goal | status |\n|---|---|---|---|---|---|\n");
      for (String[] row : s.rows) {
        b.append("| ").append(String.join(" | ", row)).append(" |\n");
      }
      b.append('\n');
      for (String n : s.notes) {
        b.append(n).append("\n\n");
      }
    }
    if (!r.charts().isEmpty()) {
      b.append("## Charts\n\n");
      for (Results.Chart c : r.charts()) {
        b.append("![").append(c.title()).append("](").append(c.file()).append(")\n\n").append(c.caption())
            .append("\n\n");
      }
    }
    return b.toString();
  }
}
