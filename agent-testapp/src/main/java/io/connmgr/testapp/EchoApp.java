package io.connmgr.testapp;

import io.grpc.Deadline;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import io.connmgr.proto.EchoRequest;
import io.connmgr.proto.EchoResponse;
import io.connmgr.proto.EchoServiceGrpc;
import io.connmgr.proto.HoldRequest;
import io.grpc.Status;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * A plain gRPC client application with no dependency on connmgr: the application the agent tests start with and
 * without {@code -javaagent}. It uses generated stubs of {@code echo.proto} and whichever grpc-java version its build
 * put on the class path, and takes commands on standard input, one per line:
 *
 * <ul>
 *   <li>{@code channel <managed|netty|grpc> <target>}: builds a new channel to {@code target} with
 *       {@code ManagedChannelBuilder.forTarget}, {@code NettyChannelBuilder.forTarget} (shaded or not) or
 *       {@code Grpc.newChannelBuilder}; prints {@code CHANNEL <authority>};
 *   <li>{@code echo <deadlineMs>}: a blocking unary call; prints {@code ECHO OK <server> <ms> uptime=<ms>} or
 *       {@code ECHO FAIL <code> <ms> <description>};
 *   <li>{@code hold <deadlineMs>}: starts a call the server holds until it is cancelled; prints {@code STARTED hold},
 *       and {@code HOLD <code> <ms> <description>} when it ends;
 *   <li>{@code quit}.
 * </ul>
 *
 * <p>On start it prints {@code READY grpc=<where grpc-api was loaded from>}.
 */
public final class EchoApp {

  private static ManagedChannel channel;

  private EchoApp() {}

  public static void main(String[] args) throws Exception {
    print("READY grpc=" + ManagedChannelBuilder.class.getProtectionDomain().getCodeSource().getLocation());
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] cmd = line.trim().split("\\s+");
      try {
        switch (cmd[0]) {
          case "channel":
            channel(cmd[1], cmd[2]);
            break;
          case "echo":
            echo(Long.parseLong(cmd[1]));
            break;
          case "hold":
            hold(Long.parseLong(cmd[1]));
            break;
          case "quit":
            System.exit(0);
            break;
          default:
            print("ERROR unknown command " + line);
        }
      } catch (Exception e) {
        print("ERROR " + e);
      }
    }
  }

  private static void channel(String kind, String target) throws Exception {
    if (channel != null) {
      channel.shutdownNow();
    }
    switch (kind) {
      case "managed":
        channel = ManagedChannelBuilder.forTarget(target).usePlaintext().build();
        break;
      case "grpc":
        channel = Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
        break;
      case "netty":
        channel = nettyChannel(target);
        break;
      default:
        throw new IllegalArgumentException("channel kind " + kind);
    }
    print("CHANNEL " + channel.authority());
  }

  /** NettyChannelBuilder from grpc-netty-shaded or grpc-netty, whichever this build has. */
  private static ManagedChannel nettyChannel(String target) throws Exception {
    Class<?> builder;
    try {
      builder = Class.forName("io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder");
    } catch (ClassNotFoundException e) {
      builder = Class.forName("io.grpc.netty.NettyChannelBuilder");
    }
    ManagedChannelBuilder<?> b = (ManagedChannelBuilder<?>) builder.getMethod("forTarget", String.class)
        .invoke(null, target);
    return b.usePlaintext().build();
  }

  private static void echo(long deadlineMs) {
    long start = System.nanoTime();
    try {
      EchoResponse r = EchoServiceGrpc.newBlockingStub(channel).withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS)
          .echo(EchoRequest.newBuilder().setMessage("hello").build());
      print("ECHO OK " + r.getServerName() + " " + millis(start) + " uptime="
          + ManagementFactory.getRuntimeMXBean().getUptime());
    } catch (StatusRuntimeException e) {
      print("ECHO FAIL " + e.getStatus().getCode() + " " + millis(start) + " " + e.getStatus().getDescription());
    }
  }

  private static void hold(long deadlineMs) {
    long start = System.nanoTime();
    EchoServiceGrpc.newStub(channel).withDeadline(Deadline.after(deadlineMs, TimeUnit.MILLISECONDS))
        .hold(HoldRequest.newBuilder().setMessage("held").build(), new StreamObserver<EchoResponse>() {
          @Override
          public void onNext(EchoResponse value) {}

          @Override
          public void onError(Throwable t) {
            Status s = Status.fromThrowable(t);
            print("HOLD " + s.getCode() + " " + millis(start) + " " + s.getDescription());
          }

          @Override
          public void onCompleted() {
            print("HOLD OK " + millis(start) + " completed");
          }
        });
    print("STARTED hold");
  }

  private static long millis(long startNanos) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
  }

  private static synchronized void print(String line) {
    System.out.println(line);
    System.out.flush();
  }
}
