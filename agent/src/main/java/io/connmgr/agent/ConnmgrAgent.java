package io.connmgr.agent;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.instrument.Instrumentation;
import java.lang.reflect.InvocationTargetException;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * The agent's entry point: {@code -javaagent:connmgr-agent.jar[=options]} ({@link #premain}) or
 * {@code ./connmgr attach PID [options]} ({@link #agentmain}). Options are documented in the README's agent section.
 *
 * <p>It appends the agent jar to the bootstrap class path (for {@link io.connmgr.agent.bootstrap.Hooks}), unpacks
 * the agent's world (connmgr, jetcd and everything they need) into {@code java.io.tmpdir} (once per agent jar), loads it in a class loader of
 * its own whose parent is the platform class loader, and starts it there. The application's class loaders never see
 * those classes.
 *
 * <p><b>Threading.</b> Runs on the JVM's main thread before {@code main} (premain) or on the attach listener
 * thread; it does not wait for etcd. Never throws from {@code premain}: whatever goes wrong, the agent prints one
 * line to standard error and the application runs without it.
 */
public final class ConnmgrAgent {

  private static boolean started;

  private ConnmgrAgent() {}

  /** {@code -javaagent}: never throws. */
  public static void premain(String options, Instrumentation inst) {
    try {
      start(options, inst, false);
    } catch (Throwable t) {
      System.err.println("[connmgr-agent] ERROR " + message(t) + "; the agent is disabled and the application runs"
          + " without it");
    }
  }

  /**
   * Attach: throws (and the attaching side reports it, e.g. a bad option) if the agent cannot start; the
   * application runs on either way.
   */
  public static void agentmain(String options, Instrumentation inst) throws Exception {
    start(options, inst, true);
  }

  /**
   * Checks agent options as the agent would, without starting it (the attach command runs this first, since a
   * failing {@code agentmain} cannot tell the attaching side why).
   *
   * @throws IllegalArgumentException naming the key at fault
   */
  public static void checkOptions(Path agentJar, String options) throws Exception {
    try {
      world(agentJar.toFile()).loadClass("io.connmgr.agent.internal.AgentConfig").getMethod("load", String.class, Map.class)
          .invoke(null, options, System.getenv());
    } catch (InvocationTargetException e) {
      throw e.getCause() instanceof Exception ex ? ex : e;
    }
  }

  /**
   * The jar the JVM loaded the agent from: the one on the system class path that holds the world (this class may
   * come from elsewhere if the application has connmgr-agent on its class path too).
   */
  private static File agentJar() throws Exception {
    URL world = ClassLoader.getSystemResource("connmgr-agent/world.jar");
    if (world != null && "jar".equals(world.getProtocol())) {
      String path = world.getPath();
      return new File(new URI(path.substring(0, path.indexOf("!/"))));
    }
    return new File(ConnmgrAgent.class.getProtectionDomain().getCodeSource().getLocation().toURI());
  }

  private static ClassLoader world(File agentJar) throws Exception {
    return new URLClassLoader("connmgr-agent", new URL[] {unpackWorld(agentJar).toUri().toURL()},
        ClassLoader.getPlatformClassLoader());
  }

  private static synchronized void start(String options, Instrumentation inst, boolean attached) throws Exception {
    if (started) {
      System.err.println("[connmgr-agent] INFO already loaded in this JVM; ignoring the second load");
      return;
    }
    // first the hooks onto the boot class path, where both grpc-java and the agent's world find them
    File jar = agentJar();
    inst.appendToBootstrapClassLoaderSearch(new JarFile(jar));
    Class<?> main = Class.forName("io.connmgr.agent.internal.AgentMain", true, world(jar));
    try {
      main.getMethod("start", String.class, Instrumentation.class, boolean.class)
          .invoke(null, options, inst, attached);
    } catch (InvocationTargetException e) {
      throw e.getCause() instanceof Exception ex ? ex : e;
    }
    started = true;
  }

  /**
   * world.jar, unpacked once per agent jar (named by its size and time) into a directory of the temporary directory
   * that only this user can write, and reused by later JVMs; written to a temporary name and moved into place, so
   * concurrent JVMs never see half a file. If that directory is not this user's alone (another user could have put a
   * jar there), a fresh private temporary file is used instead and deleted on exit.
   */
  private static Path unpackWorld(File agentJar) throws IOException {
    try (JarFile jar = new JarFile(agentJar)) {
      JarEntry entry = jar.getJarEntry("connmgr-agent/world.jar");
      if (entry == null) {
        throw new IOException(agentJar + " has no connmgr-agent/world.jar: not a complete connmgr agent jar");
      }
      Path dir = privateCacheDir();
      Path out = dir == null ? null
          : dir.resolve("world-" + agentJar.length() + "-" + agentJar.lastModified() + ".jar");
      if (out != null && Files.isRegularFile(out, LinkOption.NOFOLLOW_LINKS) && Files.size(out) == entry.getSize()) {
        return out;
      }
      Path tmp = dir != null ? Files.createTempFile(dir, "world-", ".tmp")
          : Files.createTempFile("connmgr-agent-world-", ".jar");
      try (InputStream in = jar.getInputStream(entry)) {
        Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
        if (out == null) {
          tmp.toFile().deleteOnExit();
          return tmp;
        }
        Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        return out;
      } finally {
        if (out != null) {
          Files.deleteIfExists(tmp);
        }
      }
    }
  }

  /** {@code java.io.tmpdir/connmgr-agent-<user>}, owned by this user with mode 700, or {@code null}. */
  private static Path privateCacheDir() {
    try {
      Path dir = Path.of(System.getProperty("java.io.tmpdir"), "connmgr-agent-" + System.getProperty("user.name"));
      Set<PosixFilePermission> ownerOnly = PosixFilePermissions.fromString("rwx------");
      if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(ownerOnly));
      }
      Path probe = Files.createTempFile("connmgr-agent-owner-", ".tmp");
      UserPrincipal me = Files.getOwner(probe);
      Files.delete(probe);
      boolean mine = Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)
          && Files.getOwner(dir, LinkOption.NOFOLLOW_LINKS).equals(me)
          && Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS).equals(ownerOnly);
      return mine ? dir : null;
    } catch (IOException | UnsupportedOperationException e) {
      return null;
    }
  }

  private static String message(Throwable t) {
    Throwable c = t instanceof InvocationTargetException && t.getCause() != null ? t.getCause() : t;
    return c.getMessage() != null ? c.getMessage() : c.toString();
  }
}
