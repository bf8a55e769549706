package io.connmgr.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import io.connmgr.discovery.DiscoveryException;
import io.connmgr.discovery.EtcdDiscovery;
import io.connmgr.discovery.SessionEvent;
import io.connmgr.discovery.SessionListener;
import io.connmgr.discovery.Subscription;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code connmgr watch}: ADDED for every existing session, then every change. Rides out etcd outages; stops on
 * Ctrl-C (SIGINT/SIGTERM).
 */
@Command(name = "watch", mixinStandardHelpOptions = true,
    description = "Print an ADDED event for every session, then every change as it happens, until Ctrl-C. "
        + "Rides out etcd outages.")
final class WatchCommand implements Callable<Integer> {

  @Mixin
  EtcdOptions etcd = new EtcdOptions();

  @Option(names = "--role", paramLabel = "ROLE", description = "only this role (case-sensitive)")
  String role;

  @Option(names = "--json", description = "one JSON object per line")
  boolean json;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    EtcdDiscovery d = etcd.build();
    CountDownLatch stop = new CountDownLatch(1);
    Thread hook = new Thread(() -> {
      stop.countDown();
      d.close();
      out.flush();
    }, "connmgr-watch-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      CompletableFuture<Void> synced = new CompletableFuture<>();
      java.util.concurrent.atomic.AtomicReference<Throwable> startError = new java.util.concurrent.atomic.AtomicReference<>();
      java.util.concurrent.atomic.AtomicBoolean header = new java.util.concurrent.atomic.AtomicBoolean(json);
      Subscription sub = d.subscribe(role, new SessionListener() {
        @Override
        public void onEvent(SessionEvent e) {
          printHeader();
          if (json) {
            try {
              out.println(Json.MAPPER.writeValueAsString(Json.event(e)));
            } catch (JsonProcessingException ex) {
              throw new IllegalStateException(ex);
            }
          } else {
            out.printf("%-8d %-9s %-24s %-22s %s%s%n", e.revision(), e.type(), e.session().name(),
                e.session().address(), e.key(), e.type() == SessionEvent.Type.REMOVED ? " (" + e.reason() + ")" : "");
          }
          out.flush();
        }

        @Override
        public void onSynced(long revision) {
          printHeader();
          synced.complete(null);
        }

        private void printHeader() {
          if (header.compareAndSet(false, true)) {
            out.printf("%-8s %-9s %-24s %-22s %s%n", "REV", "EVENT", "SERVER", "ADDRESS", "KEY");
          }
        }

        @Override
        public void onDisconnected(Throwable cause) {
          if (!synced.isDone()) {
            startError.compareAndSet(null, cause);
            if (cause instanceof DiscoveryException de && de.code() != DiscoveryException.Code.UNAVAILABLE) {
              synced.completeExceptionally(cause); // refused credentials or permission: waiting will not help
            }
            return; // reported once, as the start-up error
          }
          err.println("connmgr: lost etcd (" + Errors.oneLine(cause) + "); retrying");
          err.flush();
        }
      }, null);
      // fail fast (one line, non-zero) if etcd cannot be reached at first; after that, ride out outages
      try {
        synced.get(etcd.timeoutSeconds, TimeUnit.SECONDS);
      } catch (java.util.concurrent.TimeoutException e) {
        sub.close();
        Throwable why = startError.get();
        throw new CliException("cannot reach etcd at " + etcd.etcd + " within " + etcd.timeoutSeconds + "s"
            + (why == null ? "" : " (" + Errors.oneLine(why) + ")"));
      } catch (java.util.concurrent.ExecutionException e) {
        sub.close();
        throw new CliException("etcd at " + etcd.etcd + " refused: " + Errors.oneLine(e));
      }
      stop.await();
      sub.close();
      return 0;
    } finally {
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running
      }
      d.close();
    }
  }
}
