package io.connmgr.connection;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Collectors;
import org.slf4j.LoggerFactory;

/**
 * Records the lines logged by some of connmgr's classes while open (logback, the tests' binding), so a test can check
 * that a WARN was logged, and once. Thread-safe.
 */
final class LogCapture extends AppenderBase<ILoggingEvent> implements AutoCloseable {

  private final List<ILoggingEvent> events = new CopyOnWriteArrayList<>();
  private final List<Logger> loggers;

  LogCapture(Class<?>... classes) {
    this.loggers = java.util.Arrays.stream(classes).map(c -> (Logger) LoggerFactory.getLogger(c)).toList();
    setName("capture");
    start();
    loggers.forEach(l -> l.addAppender(this));
  }

  @Override
  protected void append(ILoggingEvent e) {
    events.add(e);
  }

  /** The formatted lines at {@code level} that contain {@code text}. */
  List<String> lines(Level level, String text) {
    return events.stream().filter(e -> e.getLevel() == level).map(ILoggingEvent::getFormattedMessage)
        .filter(m -> m.contains(text)).collect(Collectors.toList());
  }

  @Override
  public void close() {
    loggers.forEach(l -> l.detachAppender(this));
    stop();
  }
}
