package io.connmgr.agent.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * Loads connmgr's gRPC-facing classes ({@code io.connmgr.connection} and the agent's bridge) against the
 * application's grpc-java: one loader per class loader that has gRPC. {@code io.grpc} and everything else resolve
 * through the application's loader; the discovery API and SLF4J resolve through the agent's world, so the bridge
 * and the world share {@code Discovery} and {@code Session} without sharing a single gRPC class.
 *
 * <p><b>Threading.</b> Thread-safe (parallel capable).
 */
final class BridgeLoader extends ClassLoader {

  static {
    registerAsParallelCapable();
  }

  private final ClassLoader world;

  BridgeLoader(ClassLoader application, ClassLoader world) {
    super("connmgr-agent-bridge", application);
    this.world = world;
  }

  private static boolean ownedHere(String name) {
    return name.startsWith("io.connmgr.connection.") || name.startsWith("io.connmgr.agent.internal.bridge.");
  }

  private static boolean fromWorld(String name) {
    return name.startsWith("io.connmgr.") || name.startsWith("org.slf4j.");
  }

  @Override
  protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
    synchronized (getClassLoadingLock(name)) {
      Class<?> c = findLoadedClass(name);
      if (c == null) {
        if (ownedHere(name)) {
          c = findClass(name);
        } else if (fromWorld(name)) {
          c = world.loadClass(name);
        } else {
          return super.loadClass(name, resolve);
        }
      }
      if (resolve) {
        resolveClass(c);
      }
      return c;
    }
  }

  @Override
  protected Class<?> findClass(String name) throws ClassNotFoundException {
    if (!ownedHere(name)) {
      throw new ClassNotFoundException(name);
    }
    try (InputStream in = world.getResourceAsStream(name.replace('.', '/') + ".class")) {
      if (in == null) {
        throw new ClassNotFoundException(name);
      }
      byte[] bytes = in.readAllBytes();
      return defineClass(name, bytes, 0, bytes.length);
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + name + " from the agent's world", e);
    }
  }
}
