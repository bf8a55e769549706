package io.connmgr.bench.scenario;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A loopback TCP forwarder to one target (an etcd client port), so that a client pointed at it can be cut off from
 * the target and let back in, while everyone else keeps talking to the target directly. Plain blocking sockets: an
 * accept thread, and two pump threads per connection (meant for a handful of connections, such as one jetcd client's).
 *
 * <p>{@link #cut()} closes every forwarded connection at once and, until {@link #restore()}, closes each new one as
 * soon as it is accepted (the client sees its connection reset or refused, not a silent hang). Thread-safe.
 */
final class TcpProxy implements AutoCloseable {

  private final ServerSocket server;
  private final InetSocketAddress target;
  private final Set<Socket> live = ConcurrentHashMap.newKeySet();
  private final Object lock = new Object();
  private volatile boolean open = true;
  private volatile boolean closed;

  private TcpProxy(InetSocketAddress target) throws IOException {
    this.target = target;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "bench-proxy-accept");
    t.setDaemon(true);
    t.start();
  }

  /** A proxy on an ephemeral loopback port forwarding to {@code host:port}. */
  static TcpProxy start(String host, int port) throws IOException {
    return new TcpProxy(new InetSocketAddress(host, port));
  }

  /** The port to point the client at. */
  int port() {
    return server.getLocalPort();
  }

  /** {@code http://127.0.0.1:<port>}, an etcd endpoint URL through this proxy. */
  String endpoint() {
    return "http://" + server.getInetAddress().getHostAddress() + ":" + port();
  }

  /** Closes every forwarded connection and refuses new ones until {@link #restore()}. */
  void cut() {
    synchronized (lock) {
      open = false;
      for (Socket s : live) {
        closeQuietly(s);
      }
      live.clear();
    }
  }

  /** Forwards new connections again. */
  void restore() {
    synchronized (lock) {
      open = true;
    }
  }

  private void acceptLoop() {
    while (!closed) {
      Socket client;
      try {
        client = server.accept();
      } catch (IOException e) {
        if (closed) {
          return;
        }
        continue;
      }
      if (!open) {
        closeQuietly(client);
        continue;
      }
      Socket upstream = new Socket();
      try {
        client.setTcpNoDelay(true);
        upstream.setTcpNoDelay(true);
        upstream.connect(target, 5_000);
      } catch (IOException e) {
        closeQuietly(client);
        closeQuietly(upstream);
        continue;
      }
      synchronized (lock) {
        if (!open || closed) {
          closeQuietly(client);
          closeQuietly(upstream);
          continue;
        }
        live.add(client);
        live.add(upstream);
      }
      pump(client, upstream);
      pump(upstream, client);
    }
  }

  private void pump(Socket from, Socket to) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[64 * 1024];
      try {
        InputStream in = from.getInputStream();
        OutputStream out = to.getOutputStream();
        int n;
        while ((n = in.read(buf)) >= 0) {
          out.write(buf, 0, n);
        }
      } catch (IOException e) {
        // cut, or one side closed: end both directions
      } finally {
        closeQuietly(from);
        closeQuietly(to);
        live.remove(from);
        live.remove(to);
      }
    }, "bench-proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException e) {
      // closing anyway
    }
  }

  @Override
  public void close() {
    closed = true;
    cut();
    try {
      server.close();
    } catch (IOException e) {
      // closing anyway
    }
  }
}
