package io.connmgr.testing;

import java.time.Duration;
import java.util.Objects;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A JUnit 5 extension that fails a test which leaves connmgr threads or grpc-java channels behind.
 *
 * <pre>{@code
 * @ExtendWith(LeakCheck.class)                  // waits up to 10 s after each test
 * class MyTest { ... }
 *
 * @RegisterExtension
 * static final LeakCheck leaks = LeakCheck.within(Duration.ofSeconds(3));
 * }</pre>
 *
 * <p>Before each test it records the live threads whose name starts with {@code connmgr-} and the number of grpc-java
 * root channels in channelz ({@code InternalChannelz.instance()}). After each test (after the test's own
 * {@code @AfterEach} methods, when registered on the class or as a field) it polls until no new {@code connmgr-} thread
 * is alive and the root channel count is back to at most what it was; if that does not happen within the timeout, the
 * test fails with an {@link AssertionError} naming the leaked threads (name, state, top stack frames) and channels
 * (target). The check itself is {@link Leaks}, usable without JUnit.
 *
 * <p>Tests must not run concurrently in one JVM while this extension is used: another test's threads and channels would
 * count as this test's leaks. Thread-safe otherwise; stateless between tests (the baseline lives in the test's
 * extension store).
 */
public final class LeakCheck implements BeforeEachCallback, AfterEachCallback {

    /** How long {@link #LeakCheck()} waits for threads and channels to end. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(LeakCheck.class);

    private final Duration timeout;

    /** Waits up to {@link #DEFAULT_TIMEOUT} (10 s) after each test; what {@code @ExtendWith(LeakCheck.class)} uses. */
    public LeakCheck() {
        this(DEFAULT_TIMEOUT);
    }

    private LeakCheck(Duration timeout) {
        this.timeout = Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("timeout must not be negative: " + timeout);
        }
    }

    /**
     * A leak check that waits up to {@code timeout} after each test.
     *
     * @param timeout how long threads and channels may take to end after a test
     * @return the extension, to register with {@code @RegisterExtension}
     */
    public static LeakCheck within(Duration timeout) {
        return new LeakCheck(timeout);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        context.getStore(NAMESPACE).put(context.getUniqueId(), Leaks.baseline());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        Leaks.Baseline baseline = context.getStore(NAMESPACE).remove(context.getUniqueId(), Leaks.Baseline.class);
        if (baseline == null) {
            return;
        }
        baseline.awaitNoLeaks(timeout).ifPresent(report -> {
            throw new AssertionError(context.getDisplayName() + " " + report);
        });
    }
}
