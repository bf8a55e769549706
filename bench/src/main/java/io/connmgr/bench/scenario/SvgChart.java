package io.connmgr.bench.scenario;

import java.util.List;
import java.util.Locale;

/**
 * Writes a latency CDF as a standalone SVG, by hand (no charting library): x is the latency in milliseconds on a log
 * scale (baselines that wait for a 10 s deadline and connmgr's millisecond figures fit one picture), y the percentage
 * of trials that finished at most that fast; one step line per series, connmgr first, with p50/p99 in the legend.
 */
public final class SvgChart {

  private static final String[] COLORS = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  private static final int W = 760;
  private static final int PLOT_H = 300;
  private static final int LEFT = 60;
  private static final int RIGHT = 20;
  private static final int TOP = 40;
  private static final int BOTTOM = 50;
  private static final int LEGEND_LINE = 18;
  private static final int MAX_POINTS = 600;

  private SvgChart() {}

  /** The SVG document for {@code chart}. */
  public static String render(Results.Chart chart) {
    double lo = Double.MAX_VALUE;
    double hi = 0;
    for (Latency l : chart.series()) {
      long[] s = l.sorted();
      if (s.length > 0) {
        lo = Math.min(lo, Math.max(1e-3, s[0] / 1e6));
        hi = Math.max(hi, s[s.length - 1] / 1e6);
      }
    }
    if (hi == 0) {
      lo = 0.1;
      hi = 1;
    }
    int decLo = (int) Math.floor(Math.log10(lo));
    int decHi = Math.max(decLo + 1, (int) Math.ceil(Math.log10(hi)));
    double plotW = W - LEFT - RIGHT;
    double plotH = PLOT_H;
    int height = TOP + PLOT_H + BOTTOM + LEGEND_LINE * chart.series().size() + 8;
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
        + "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">%n", W, height, W, height));
    b.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", W, height));
    b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">%s</text>%n",
        LEFT, escape(chart.title())));
    // grid and axes
    for (int d = decLo; d <= decHi; d++) {
      double x = LEFT + plotW * (d - decLo) / (decHi - decLo);
      b.append(line(x, TOP, x, TOP + plotH, "#ccc"));
      b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>%n", x,
          TOP + plotH + 16, tick(d)));
      for (int m = 2; m < 10 && d < decHi; m++) {
        double xm = LEFT + plotW * (d + Math.log10(m) - decLo) / (decHi - decLo);
        b.append(line(xm, TOP, xm, TOP + plotH, "#eee"));
      }
    }
    for (int p = 0; p <= 100; p += 25) {
      double y = TOP + plotH * (1 - p / 100.0);
      b.append(line(LEFT, y, LEFT + plotW, y, p == 0 ? "#888" : "#ddd"));
      b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>%n", LEFT - 6,
          y + 4, p));
    }
    b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">latency (ms, log scale)"
        + "</text>%n", LEFT + plotW / 2, TOP + PLOT_H + 34));
    b.append(String.format(Locale.ROOT, "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">"
        + "trials at most this fast</text>%n", TOP + plotH / 2));
    // series
    List<Latency> series = chart.series();
    for (int i = 0; i < series.size(); i++) {
      long[] s = series.get(i).sorted();
      if (s.length == 0) {
        continue;
      }
      String color = COLORS[i % COLORS.length];
      StringBuilder pts = new StringBuilder();
      int step = Math.max(1, s.length / MAX_POINTS);
      double prevY = TOP + plotH;
      for (int k = 0; k < s.length; k += step) {
        int idx = Math.min(s.length - 1, k + step - 1);
        double x = xOf(s[idx] / 1e6, decLo, decHi, plotW);
        double y = TOP + plotH * (1 - (idx + 1) / (double) s.length);
        pts.append(String.format(Locale.ROOT, "%.1f,%.1f %.1f,%.1f ", x, prevY, x, y));
        prevY = y;
      }
      b.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\" points=\"%s\"/>%n",
          color, i == 0 ? "2.5" : "1.8", pts.toString().trim()));
      double ly = TOP + PLOT_H + BOTTOM + 6 + i * LEGEND_LINE;
      b.append(line(LEFT + 10, ly - 4, LEFT + 30, ly - 4, color, 3));
      b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\">%s — p50 %s, p99 %s (n=%d)</text>%n", LEFT + 36,
          ly, escape(series.get(i).label()), Results.ms(series.get(i).p50Ms()), Results.ms(series.get(i).p99Ms()),
          s.length));
    }
    b.append("</svg>\n");
    return b.toString();
  }

  private static double xOf(double ms, int decLo, int decHi, double plotW) {
    double v = Math.log10(Math.max(ms, Math.pow(10, decLo)));
    return LEFT + plotW * (v - decLo) / (decHi - decLo);
  }

  private static String tick(int decade) {
    double v = Math.pow(10, decade);
    if (decade >= 3) {
      return String.format(Locale.ROOT, "%,.0f", v);
    }
    return decade >= 0 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%s", v);
  }

  private static String line(double x1, double y1, double x2, double y2, String color) {
    return line(x1, y1, x2, y2, color, 1);
  }

  private static String line(double x1, double y1, double x2, double y2, String color, double width) {
    return String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
        + "stroke-width=\"%s\"/>%n", x1, y1, x2, y2, color, width);
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
  }
}
