package io.connmgr.discovery.internal;

/** One stored key as read from a backend: its bytes, the revision it was last modified at, and its lease. */
public record RawKeyValue(String key, byte[] value, long modRevision, long lease) {}
