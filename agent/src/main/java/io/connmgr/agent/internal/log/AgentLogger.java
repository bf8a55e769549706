package io.connmgr.agent.internal.log;

import java.io.PrintStream;
import java.util.Locale;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/**
 * The agent's SLF4J logger: one line per event on standard error, prefixed {@code [connmgr-agent]}, at the level
 * the {@code log} option sets (info by default; other libraries inside the agent log warnings and errors only). The
 * agent never touches the application's logging.
 *
 * <p><b>Threading.</b> Thread-safe.
 */
public final class AgentLogger extends LegacyAbstractLogger {

  private static final long serialVersionUID = 1L;
  private static volatile int connmgrLevel = Level.INFO.toInt();

  private final transient boolean connmgr;

  AgentLogger(String name) {
    this.name = name;
    this.connmgr = name.startsWith("io.connmgr.");
  }

  /** Sets the level of connmgr's own loggers: error, warn, info or debug. */
  public static void setLevel(String level) {
    connmgrLevel = Level.valueOf(level.toUpperCase(Locale.ROOT)).toInt();
  }

  private boolean enabled(Level level) {
    return level.toInt() >= (connmgr ? connmgrLevel : Math.max(connmgrLevel, Level.WARN.toInt()));
  }

  @Override
  public boolean isTraceEnabled() {
    return enabled(Level.TRACE);
  }

  @Override
  public boolean isDebugEnabled() {
    return enabled(Level.DEBUG);
  }

  @Override
  public boolean isInfoEnabled() {
    return enabled(Level.INFO);
  }

  @Override
  public boolean isWarnEnabled() {
    return enabled(Level.WARN);
  }

  @Override
  public boolean isErrorEnabled() {
    return enabled(Level.ERROR);
  }

  @Override
  protected String getFullyQualifiedCallerName() {
    return null;
  }

  @Override
  protected void handleNormalizedLoggingCall(Level level, Marker marker, String pattern, Object[] args,
      Throwable t) {
    String shortName = name.substring(name.lastIndexOf('.') + 1);
    PrintStream err = System.err;
    String line = "[connmgr-agent] " + level + " " + shortName + " - "
        + MessageFormatter.basicArrayFormat(pattern, args) + (t == null ? "" : ": " + t);
    err.println(line);
  }
}
