package io.connmgr.discovery;

class InMemoryConformanceTest extends DiscoveryConformanceTest {

  @Override
  protected Backend newBackend(String root) {
    InMemoryRegistry registry = InMemoryRegistry.builder().root(root).build();
    return new Backend() {
      @Override
      public Discovery discovery() {
        return registry;
      }

      @Override
      public void put(Session session) {
        registry.kv().put(root + session.role() + "-" + session.serverId(), SessionCodec.encode(session));
      }

      @Override
      public void putRaw(String role, long id, String json) {
        registry.kv().put(root + role + "-" + id, json);
      }

      @Override
      public void remove(String role, long id) {
        registry.kv().delete(root + role + "-" + id);
      }

      @Override
      public void close() {
        registry.close();
      }
    };
  }
}
