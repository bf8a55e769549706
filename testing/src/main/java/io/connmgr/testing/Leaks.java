package io.connmgr.testing;

import io.grpc.InternalChannelz;
import io.grpc.InternalChannelz.ChannelStats;
import io.grpc.InternalInstrumented;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.awaitility.Awaitility;
import org.awaitility.core.ConditionTimeoutException;

/**
 * The JUnit-free core of {@link LeakCheck}: what a test left behind, as connmgr threads (live threads whose name starts
 * with {@code connmgr-}) and grpc-java channels (root channels registered in {@link InternalChannelz#instance()}, which
 * every {@code ManagedChannelImpl} joins when built and leaves once terminated).
 *
 * <pre>{@code
 * Leaks.Baseline before = Leaks.baseline();
 * ... code under test ...
 * before.awaitNoLeaks(Duration.ofSeconds(10)).ifPresent(report -> { throw new AssertionError(report); });
 * }</pre>
 *
 * <p>Thread-safe: a baseline is immutable; checks read the JVM's threads and channelz at the time of the call.
 */
public final class Leaks {

    /** The thread name prefix of connmgr's own threads. */
    public static final String THREAD_PREFIX = "connmgr-";

    private static final int STACK_FRAMES = 8;
    private static final Duration POLL_INTERVAL = Duration.ofMillis(50);
    private static final Duration STATS_TIMEOUT = Duration.ofSeconds(1);

    private Leaks() {}

    /**
     * Records the live {@code connmgr-} threads and the grpc-java root channels now.
     *
     * @return the baseline to check against later
     */
    public static Baseline baseline() {
        Set<Thread> threads = Collections.newSetFromMap(new IdentityHashMap<>());
        threads.addAll(connmgrThreads().keySet());
        List<InternalInstrumented<ChannelStats>> channels = rootChannels();
        return new Baseline(threads, channels.size(),
                channels.stream().map(c -> c.getLogId().getId()).collect(Collectors.toUnmodifiableSet()));
    }

    /** What was alive when a test started. */
    public static final class Baseline {
        private final Set<Thread> threads;
        private final int channelCount;
        private final Set<Long> channelIds;

        private Baseline(Set<Thread> threads, int channelCount, Set<Long> channelIds) {
            this.threads = threads;
            this.channelCount = channelCount;
            this.channelIds = channelIds;
        }

        /** The number of grpc-java root channels at the baseline. */
        public int channelCount() {
            return channelCount;
        }

        /**
         * Checks once: a leak is a live {@code connmgr-} thread that was not alive at the baseline, or more root
         * channels than at the baseline.
         *
         * @return a report naming the leaked threads (name, state, top stack frames) and channels (id and target), or
         *     empty if nothing leaked
         */
        public Optional<String> check() {
            Map<Thread, StackTraceElement[]> newThreads = newThreads();
            List<InternalInstrumented<ChannelStats>> channels = rootChannels();
            boolean channelLeak = channels.size() > channelCount;
            if (newThreads.isEmpty() && !channelLeak) {
                return Optional.empty();
            }
            StringBuilder sb = new StringBuilder("leaked resources:");
            if (!newThreads.isEmpty()) {
                sb.append("\n  ").append(newThreads.size()).append(" connmgr thread(s) still alive:");
                newThreads.forEach((t, stack) -> {
                    sb.append("\n    \"").append(t.getName()).append("\" ").append(t.getState())
                            .append(t.isDaemon() ? " (daemon)" : "");
                    for (int i = 0; i < Math.min(STACK_FRAMES, stack.length); i++) {
                        sb.append("\n        at ").append(stack[i]);
                    }
                    if (stack.length > STACK_FRAMES) {
                        sb.append("\n        ... ").append(stack.length - STACK_FRAMES).append(" more");
                    }
                });
            }
            if (channelLeak) {
                sb.append("\n  grpc-java root channels: ").append(channels.size()).append(" now, ")
                        .append(channelCount).append(" before; not shut down and terminated:");
                for (InternalInstrumented<ChannelStats> c : channels) {
                    if (!channelIds.contains(c.getLogId().getId())) {
                        sb.append("\n    ").append(c.getLogId()).append(" target=").append(target(c));
                    }
                }
            }
            return Optional.of(sb.toString());
        }

        /**
         * Polls {@link #check()} (every 50 ms) until nothing is leaked or {@code timeout} passes, so threads and
         * channels that are closing have time to end.
         *
         * @param timeout how long to wait at most
         * @return the report of the last check if something is still leaked after {@code timeout}, else empty
         */
        public Optional<String> awaitNoLeaks(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            try {
                Awaitility.await("no leaked connmgr threads or grpc channels")
                        .pollDelay(Duration.ZERO)
                        .pollInterval(POLL_INTERVAL)
                        .atMost(timeout)
                        .until(() -> check().isEmpty());
                return Optional.empty();
            } catch (ConditionTimeoutException e) {
                return check().map(r -> r + "\n  (still there after " + timeout.toMillis() + " ms)");
            }
        }

        private Map<Thread, StackTraceElement[]> newThreads() {
            Map<Thread, StackTraceElement[]> out = connmgrThreads();
            out.keySet().removeIf(threads::contains);
            return out;
        }
    }

    /** Live threads named {@code connmgr-*} with their stacks, ordered by name. */
    private static Map<Thread, StackTraceElement[]> connmgrThreads() {
        List<Map.Entry<Thread, StackTraceElement[]>> all = new ArrayList<>(Thread.getAllStackTraces().entrySet());
        all.sort(Map.Entry.comparingByKey((a, b) -> a.getName().compareTo(b.getName())));
        Map<Thread, StackTraceElement[]> out = new java.util.LinkedHashMap<>();
        for (Map.Entry<Thread, StackTraceElement[]> e : all) {
            Thread t = e.getKey();
            if (t.isAlive() && t.getName().startsWith(THREAD_PREFIX)) {
                out.put(t, e.getValue());
            }
        }
        return out;
    }

    private static List<InternalInstrumented<ChannelStats>> rootChannels() {
        return InternalChannelz.instance().getRootChannels(0, Integer.MAX_VALUE).channels;
    }

    private static String target(InternalInstrumented<ChannelStats> channel) {
        try {
            return channel.getStats().get(STATS_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).target;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "<interrupted>";
        } catch (Exception e) {
            return "<unknown: " + e + ">";
        }
    }
}
