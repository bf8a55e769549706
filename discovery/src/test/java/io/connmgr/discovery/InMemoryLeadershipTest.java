package io.connmgr.discovery;

import java.time.Duration;

/** {@link LeadershipConformanceTest} on the {@link InMemoryRegistry}. */
class InMemoryLeadershipTest extends LeadershipConformanceTest {

  @Override
  protected Backend newBackend(String root) {
    InMemoryRegistry registry = InMemoryRegistry.builder().root(root).build();
    return new Backend() {
      @Override
      public Discovery discovery() {
        return registry;
      }

      @Override
      public Registry registry() {
        return registry;
      }

      @Override
      public void putRaw(String key, byte[] value) {
        registry.kv().put(key, value);
      }

      @Override
      public long putRawOnNewLease(String key, byte[] value) {
        long lease = registry.kv().grantLease(Duration.ofSeconds(30));
        registry.kv().put(key, value, lease);
        return lease;
      }

      @Override
      public void deleteRaw(String key) {
        registry.kv().delete(key);
      }

      @Override
      public void revokeRaw(long lease) {
        registry.kv().revokeLease(lease);
      }

      @Override
      public void close() {
        registry.close();
      }
    };
  }
}
