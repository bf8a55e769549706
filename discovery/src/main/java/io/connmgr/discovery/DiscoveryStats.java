package io.connmgr.discovery;

/**
 * Counters of a {@link Discovery} since it was built. Immutable snapshot; thread-safe.
 *
 * @param eventsDelivered session events delivered to listeners, all subscriptions together
 * @param invalidValues   values skipped because they are not valid sessions (each logged once at WARN)
 * @param resyncs         re-lists after the watch could not resume (compaction) or after a file reload
 * @param watchRestarts   times a watch ended and was re-established
 * @param listenerErrors  exceptions thrown by listeners (logged and ignored)
 */
public record DiscoveryStats(
    long eventsDelivered, long invalidValues, long resyncs, long watchRestarts, long listenerErrors) {}
