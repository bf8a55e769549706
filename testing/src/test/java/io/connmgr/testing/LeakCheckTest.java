package io.connmgr.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

class LeakCheckTest {

  /** What the example tests leave behind, released by {@link #release()}. */
  static volatile CountDownLatch releaseLatch = new CountDownLatch(1);
  static final Map<String, ManagedChannel> CHANNELS = new ConcurrentHashMap<>();

  @BeforeEach
  void arm() {
    releaseLatch = new CountDownLatch(1);
  }

  @AfterEach
  void release() throws InterruptedException {
    releaseLatch.countDown();
    for (ManagedChannel c : CHANNELS.values()) {
      c.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    CHANNELS.clear();
  }

  @Test
  void leakedThreadAndChannelAreReportedByTheCheck() throws Exception {
    Leaks.Baseline before = Leaks.baseline();
    assertThat(before.check()).isEmpty();
    Thread t = startParked("connmgr-x");
    ManagedChannel channel = ManagedChannelBuilder.forTarget("leak-check.invalid:1").usePlaintext().build();
    CHANNELS.put("direct", channel);

    String report = before.awaitNoLeaks(Duration.ofMillis(200)).orElseThrow();
    assertThat(report)
        .contains("\"connmgr-x\" WAITING")
        .contains("CountDownLatch.await")                        // top frames of its stack
        .contains("target=leak-check.invalid:1");

    releaseLatch.countDown();
    t.join(5_000);
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    assertThat(before.awaitNoLeaks(Duration.ofSeconds(5))).isEmpty();
  }

  @Test
  void threadsOfOtherNamesAndThreadsThatEndInTimeAreNotLeaks() throws Exception {
    Leaks.Baseline before = Leaks.baseline();
    Thread other = startParked("not-connmgr");
    CountDownLatch endNow = new CountDownLatch(1);
    Thread ending = new Thread(() -> {
      try {
        endNow.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "connmgr-ending");
    ending.start();
    assertThat(before.check()).hasValueSatisfying(r -> assertThat(r).contains("connmgr-ending")); // alive now
    CompletableFuture<Optional<String>> waited =
        CompletableFuture.supplyAsync(() -> before.awaitNoLeaks(Duration.ofSeconds(5)));
    endNow.countDown(); // it ends while (or before) the check waits: not a leak
    assertThat(waited.get(10, TimeUnit.SECONDS)).isEmpty();
    releaseLatch.countDown();
    other.join(5_000);
  }

  @Test
  void theExtensionFailsOnlyTheLeakingTests() {
    TestExecutionSummary summary = run(Examples.class);
    Map<String, Throwable> failures = summary.getFailures().stream().collect(
        Collectors.toMap(f -> f.getTestIdentifier().getDisplayName(), TestExecutionSummary.Failure::getException));
    assertThat(summary.getTestsSucceededCount()).isEqualTo(1);
    assertThat(failures).containsOnlyKeys("leaksAThread()", "leaksAChannel()");
    assertThat(failures.get("leaksAThread()")).isInstanceOf(AssertionError.class)
        .hasMessageContaining("leaksAThread() leaked resources")
        .hasMessageContaining("\"connmgr-x\" WAITING")
        .hasMessageNotContaining("grpc-java root channels");
    assertThat(failures.get("leaksAChannel()")).isInstanceOf(AssertionError.class)
        .hasMessageContaining("target=leak-check-example.invalid:1")
        .hasMessageNotContaining("connmgr thread");
  }

  @Test
  void extendWithUsesTheDefaultTimeout() {
    TestExecutionSummary summary = run(ExtendWithExample.class);
    assertThat(summary.getTestsSucceededCount()).isEqualTo(1);
    assertThat(summary.getTotalFailureCount()).isZero();
  }

  private static TestExecutionSummary run(Class<?> testClass) {
    LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectClass(testClass))
        .build();
    SummaryGeneratingListener listener = new SummaryGeneratingListener();
    LauncherFactory.create().execute(request, listener);
    return listener.getSummary();
  }

  static Thread startParked(String name) {
    CountDownLatch latch = releaseLatch;
    Thread t = new Thread(() -> {
      try {
        latch.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, name);
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** Run by {@link #theExtensionFailsOnlyTheLeakingTests} through the launcher; not a test class of its own. */
  static class Examples {
    @RegisterExtension
    static final LeakCheck leaks = LeakCheck.within(Duration.ofMillis(300));

    @Test
    void leaksAThread() {
      startParked("connmgr-x");
    }

    @Test
    void leaksAChannel() {
      CHANNELS.put("example", ManagedChannelBuilder.forTarget("leak-check-example.invalid:1").usePlaintext().build());
    }

    @Test
    void closesWhatItOpens() throws Exception {
      ManagedChannel c = ManagedChannelBuilder.forTarget("leak-check-example.invalid:2").usePlaintext().build();
      Thread t = new Thread(() -> {
        try {
          c.awaitTermination(5, TimeUnit.SECONDS); // ends when the channel has terminated
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }, "connmgr-short");
      t.start();
      c.shutdown();
      // neither waited for: the extension waits for the thread to end and the channel to terminate
    }
  }

  /** Registered with {@code @ExtendWith}: the default constructor. */
  @ExtendWith(LeakCheck.class)
  static class ExtendWithExample {
    @Test
    void noLeak() {
      List.of(1, 2, 3).forEach(i -> { });
    }
  }
}
