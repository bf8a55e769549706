package io.connmgr.discovery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.connmgr.discovery.internal.AbstractSubscription;
import io.connmgr.discovery.internal.Counters;
import io.connmgr.discovery.internal.RawKeyValue;
import io.connmgr.discovery.internal.RoleFilter;
import io.connmgr.discovery.internal.SessionTable;
import io.connmgr.discovery.internal.Threads;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sessions from a static cluster file (the "static join mode"): a JSON file listing the servers, reloaded when it
 * changes, emitting the same events as the other backends.
 *
 * <p>The file is either a JSON array of Milvus session objects or an object with a {@code "sessions"} array:
 * <pre>{@code
 * {"sessions": [
 *   {"ServerID": 1, "ServerName": "querynode", "Address": "10.0.0.1:21123"},
 *   {"ServerID": 2, "ServerName": "querynode", "Address": "10.0.0.2:21123", "Stopping": true}
 * ]}
 * }</pre>
 * Each entry lives at the key {@code <root><ServerName>-<ServerID>}. An invalid entry is skipped with a warning, like
 * an invalid etcd value; a file that cannot be read or parsed keeps the last good state (with one warning). Each reload
 * that changes something bumps the revision by one.
 *
 * <p><b>Threading.</b> Thread-safe; no method blocks. The file is polled on one daemon thread of this instance, which
 * also delivers events by default; {@link #close()} stops it.
 */
public final class StaticFileDiscovery implements Discovery {

  private static final Logger log = LoggerFactory.getLogger(StaticFileDiscovery.class);
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private final Path file;
  private final KeyLayout layout;
  private final ScheduledExecutorService scheduler;
  private final Counters counters = new Counters();
  private final Set<FileSubscription> subscriptions = new CopyOnWriteArraySet<>();
  private final Object lock = new Object();
  // guarded by lock
  private Map<String, RawKeyValue> current = Map.of();
  private long revision;
  private byte[] lastContent;
  private volatile boolean closed;

  private StaticFileDiscovery(Builder b) {
    this.file = b.file;
    this.layout = b.layout;
    this.scheduler = Threads.daemonScheduler("connmgr-static-discovery");
    reload();
    long period = b.pollInterval.toMillis();
    scheduler.scheduleWithFixedDelay(this::reload, period, period, TimeUnit.MILLISECONDS);
  }

  /** A builder for {@code file}. */
  public static Builder builder(Path file) {
    return new Builder(file);
  }

  /** Re-reads the file now (it is also polled); safe from any thread. */
  public void reload() {
    if (closed) {
      return;
    }
    byte[] content;
    try {
      content = Files.readAllBytes(file);
    } catch (IOException e) {
      warnOnce(null, "cannot read cluster file " + file + ": " + e + "; keeping the last good state");
      return;
    }
    synchronized (lock) {
      if (lastContent != null && Arrays.equals(lastContent, content)) {
        return;
      }
      List<JsonNode> entries;
      try {
        entries = parse(content);
      } catch (IOException | IllegalArgumentException e) {
        warnOnce(content, "cannot parse cluster file " + file + ": " + e.getMessage()
            + "; keeping the last good state");
        return;
      }
      lastContent = content;
      long next = revision + 1;
      Map<String, RawKeyValue> fresh = new TreeMap<>();
      for (int i = 0; i < entries.size(); i++) {
        JsonNode n = entries.get(i);
        String key = keyOf(n, i);
        byte[] value = n.toString().getBytes(StandardCharsets.UTF_8);
        RawKeyValue old = current.get(key);
        long mod = old != null && Arrays.equals(old.value(), value) ? old.modRevision() : next;
        fresh.put(key, new RawKeyValue(key, value, mod, 0));
      }
      boolean changed = !fresh.keySet().equals(current.keySet())
          || fresh.values().stream().anyMatch(kv -> kv.modRevision() == next);
      if (!changed && revision != 0) {
        return;
      }
      revision = next;
      current = fresh;
      List<RawKeyValue> listing = List.copyOf(fresh.values());
      counters.resyncs.increment();
      for (FileSubscription s : subscriptions) {
        s.enqueueResync(listing, next);
      }
      log.info("cluster file {} loaded: {} entr{} at revision {}", file, listing.size(),
          listing.size() == 1 ? "y" : "ies", next);
    }
  }

  private byte[] lastWarned;

  private void warnOnce(byte[] content, String message) {
    synchronized (lock) {
      byte[] marker = content == null ? new byte[0] : content;
      if (lastWarned == null || !Arrays.equals(lastWarned, marker)) {
        lastWarned = marker;
        log.warn(message);
      }
    }
  }

  private static List<JsonNode> parse(byte[] content) throws IOException {
    JsonNode root = MAPPER.readTree(content);
    JsonNode list = root != null && root.isObject() ? root.get("sessions") : root;
    if (list == null || !list.isArray()) {
      throw new IllegalArgumentException("expected a JSON array of sessions or {\"sessions\": [...]}");
    }
    List<JsonNode> out = new ArrayList<>();
    list.forEach(out::add);
    return out;
  }

  private String keyOf(JsonNode n, int index) {
    JsonNode name = n.get("ServerName");
    JsonNode id = n.get("ServerID");
    if (name != null && name.isTextual() && id != null && id.isIntegralNumber()) {
      return layout.sessionKey(name.asText(), id.asLong());
    }
    return layout.root() + "invalid-entry-" + index; // decoded (and rejected with a warning) like any bad value
  }

  @Override
  public CompletableFuture<SessionSnapshot> snapshot(String role) {
    List<RawKeyValue> listing;
    long rev;
    synchronized (lock) {
      listing = List.copyOf(current.values());
      rev = revision;
    }
    // a throw-away counter: the file's invalid entries are counted once, when the file is loaded
    return CompletableFuture.completedFuture(SessionTable.snapshot(layout, role, listing, rev, new Counters()));
  }

  @Override
  public Subscription subscribeRoles(Set<String> roles, SessionListener listener, Executor executor) {
    Objects.requireNonNull(listener, "listener");
    if (closed) {
      throw new DiscoveryException(DiscoveryException.Code.CLOSED, "static file discovery is closed");
    }
    FileSubscription s =
        new FileSubscription(RoleFilter.of(roles), listener, executor != null ? executor : scheduler);
    synchronized (lock) {
      s.enqueueResync(List.copyOf(current.values()), revision);
      subscriptions.add(s);
    }
    return s;
  }

  /**
   * {@inheritDoc}
   *
   * <p>A static cluster file lists servers only: each entry lives at {@code <root><ServerName>-<ServerID>} and no
   * entry can stand at a role's active key {@code <root><role>}. So this always fails with
   * {@link DiscoveryException.Code#NO_LEADER}, naming the key and saying why.
   */
  @Override
  public CompletableFuture<Leader> leader(String role) {
    Objects.requireNonNull(role, "role");
    if (closed) {
      return CompletableFuture.failedFuture(
          new DiscoveryException(DiscoveryException.Code.CLOSED, "static file discovery is closed"));
    }
    return CompletableFuture.failedFuture(new DiscoveryException(DiscoveryException.Code.NO_LEADER,
        "role '" + role + "' has no leader: a static cluster file has no active keys (no entry can stand at '"
            + layout.activeKey(role) + "'; cluster file " + file + ")"));
  }

  @Override
  public KeyLayout layout() {
    return layout;
  }

  @Override
  public DiscoveryStats stats() {
    return counters.snapshot();
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      subscriptions.forEach(Subscription::close);
      scheduler.shutdown();
    }
  }

  private final class FileSubscription extends AbstractSubscription {
    FileSubscription(RoleFilter roles, SessionListener listener, Executor executor) {
      super(layout, roles, listener, executor, StaticFileDiscovery.this.counters);
    }

    void enqueueResync(List<RawKeyValue> listing, long rev) {
      serial.execute(() -> {
        List<SessionEvent> out = new ArrayList<>();
        table.resync(listing, rev, SessionEvent.Cause.DELETED, out);
        deliver(out);
        synced(rev);
      });
    }

    @Override
    protected void onClose() {
      subscriptions.remove(this);
    }
  }

  /** Builds a {@link StaticFileDiscovery}; not thread-safe. */
  public static final class Builder {
    private final Path file;
    private KeyLayout layout = KeyLayout.MILVUS;
    private Duration pollInterval = Duration.ofSeconds(1);

    private Builder(Path file) {
      this.file = file;
    }

    /** The key layout used to name entries; Milvus' by default. */
    public Builder layout(KeyLayout value) {
      this.layout = Objects.requireNonNull(value, "layout");
      return this;
    }

    /** How often the file is checked for changes; 1 s by default. */
    public Builder pollInterval(Duration value) {
      Objects.requireNonNull(value, "pollInterval");
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException("pollInterval: must be positive, was " + value);
      }
      this.pollInterval = value;
      return this;
    }

    /**
     * Reads the file once and starts polling it.
     *
     * @throws IllegalArgumentException naming {@code file} if it is missing or not a regular file
     */
    public StaticFileDiscovery build() {
      if (file == null) {
        throw new IllegalArgumentException("file: the cluster file path is required");
      }
      if (!Files.isRegularFile(file)) {
        throw new IllegalArgumentException("file: cluster file " + file + " does not exist or is not a file");
      }
      return new StaticFileDiscovery(this);
    }
  }
}
