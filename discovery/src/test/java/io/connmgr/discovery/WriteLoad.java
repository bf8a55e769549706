package io.connmgr.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Puts and deletes sessions under a prefix from a test-owned thread, as fast as etcd acknowledges them, and records
 * each acknowledged write with its revision. Writes that fail (etcd down) are simply tried again.
 */
final class WriteLoad {

  record Write(String key, long revision, boolean delete) {}

  private final Client client;
  private final String root;
  private final int keys;
  private final List<Write> acknowledged = new CopyOnWriteArrayList<>();
  private final Random random = new Random(7);
  private volatile boolean running = true;
  private Thread thread;

  WriteLoad(Client client, String root, int keys) {
    this.client = client;
    this.root = root;
    this.keys = keys;
  }

  void start() {
    thread = new Thread(this::run, "write-load");
    thread.setDaemon(true);
    thread.start();
  }

  int acknowledged() {
    return acknowledged.size();
  }

  void stop() throws InterruptedException {
    running = false;
    thread.join(TimeUnit.SECONDS.toMillis(30));
    assertThat(thread.isAlive()).isFalse();
  }

  private void run() {
    int port = 1;
    while (running) {
      int id = random.nextInt(keys);
      String key = root + "querynode-" + id;
      ByteSequence k = ByteSequence.from(key, StandardCharsets.UTF_8);
      try {
        if (random.nextInt(4) == 0) {
          var r = client.getKVClient().delete(k).get(2, TimeUnit.SECONDS);
          if (r.getDeleted() > 0) {
            acknowledged.add(new Write(key, r.getHeader().getRevision(), true));
          }
        } else {
          Session s = Session.builder("querynode", "127.0.0.1:" + (port++ % 60000 + 1)).serverId(id).build();
          var r = client.getKVClient().put(k, ByteSequence.from(SessionCodec.encode(s))).get(2, TimeUnit.SECONDS);
          acknowledged.add(new Write(key, r.getHeader().getRevision(), false));
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (Exception e) {
        // etcd unavailable: the write may or may not have happened; the final comparison covers it
      }
    }
  }

  /** Every acknowledged write reached the subscriber as an event at its revision, of the right kind. */
  void assertEveryAcknowledgedWriteWasSeen(RecordingListener l) {
    for (Write w : acknowledged) {
      assertThat(l.events)
          .as("event for %s at revision %d", w.key(), w.revision())
          .anyMatch(e -> e.key().equals(w.key()) && e.revision() == w.revision()
              && (e.type() == SessionEvent.Type.REMOVED) == w.delete());
    }
  }
}
