package io.connmgr.cli;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.ChannelOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;

/**
 * One {@code grpc.health.v1.Health/Check} per server, all in flight at once, each on its own plaintext Netty channel
 * with a short connect timeout and a deadline, each channel shut down as soon as its answer (or failure) is in. Every
 * future completes by the deadline (plus a small margin as a last resort), however the server fails to answer.
 *
 * <p>Thread-safe. {@link #close()} shuts down whatever channel is still open and waits a little for them to go.
 */
final class HealthProbe implements AutoCloseable {

  /** A server's health as {@code cluster} reports it. */
  enum Health {
    /** {@code Check} answered SERVING. */
    SERVING,
    /** {@code Check} answered NOT_SERVING or SERVICE_UNKNOWN, or the service is unknown to it (NOT_FOUND). */
    NOT_SERVING,
    /** The server answered, but not with a health status: no health service (UNIMPLEMENTED), or another error. */
    UNKNOWN,
    /** No answer: connection refused or failed, DNS failure, or the deadline passed. */
    UNREACHABLE
  }

  /** Beyond the gRPC deadline, the last-resort bound of each future (the deadline should always end it first). */
  private static final long MARGIN_MILLIS = 1_000;

  private final Duration timeout;
  private final String service;
  private final ConcurrentLinkedQueue<ManagedChannel> channels = new ConcurrentLinkedQueue<>();

  HealthProbe(Duration timeout, String service) {
    this.timeout = timeout;
    this.service = service == null ? "" : service;
  }

  /** Starts a check of {@code host:port}; never fails, never blocks. */
  CompletableFuture<Health> check(String host, int port) {
    ManagedChannel channel;
    try {
      channel = NettyChannelBuilder.forAddress(host, port)
          .usePlaintext()
          .withOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, timeout.toMillis()))
          .directExecutor()
          .disableRetry()
          .maxInboundMessageSize(64 * 1024)
          .userAgent("connmgr-cluster")
          .build();
    } catch (RuntimeException e) {
      return CompletableFuture.completedFuture(Health.UNREACHABLE);
    }
    channels.add(channel);
    CompletableFuture<Health> result = new CompletableFuture<>();
    try {
      HealthGrpc.newStub(channel)
          .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
          .check(HealthCheckRequest.newBuilder().setService(service).build(), new StreamObserver<>() {
            @Override
            public void onNext(HealthCheckResponse response) {
              result.complete(of(response.getStatus()));
            }

            @Override
            public void onError(Throwable t) {
              result.complete(of(Status.fromThrowable(t)));
            }

            @Override
            public void onCompleted() {
              result.complete(Health.UNKNOWN); // completed without a response: not a health answer
            }
          });
    } catch (RuntimeException e) {
      result.complete(Health.UNREACHABLE);
    }
    return result
        .completeOnTimeout(Health.UNREACHABLE, timeout.toMillis() + MARGIN_MILLIS, TimeUnit.MILLISECONDS)
        .whenComplete((h, e) -> {
          channel.shutdownNow();
          channels.remove(channel);
        });
  }

  static Health of(HealthCheckResponse.ServingStatus status) {
    return switch (status) {
      case SERVING -> Health.SERVING;
      case NOT_SERVING, SERVICE_UNKNOWN -> Health.NOT_SERVING;
      default -> Health.UNKNOWN;
    };
  }

  static Health of(Status status) {
    return switch (status.getCode()) {
      case DEADLINE_EXCEEDED, UNAVAILABLE -> Health.UNREACHABLE;
      case NOT_FOUND -> Health.NOT_SERVING; // Check's answer for a service it does not know
      default -> Health.UNKNOWN; // UNIMPLEMENTED (no health service) and any other answer
    };
  }

  /** Shuts down every channel still open and waits (at most about a second) for them to terminate. */
  @Override
  public void close() {
    List<ManagedChannel> open = List.copyOf(channels);
    open.forEach(ManagedChannel::shutdownNow);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
    for (ManagedChannel c : open) {
      try {
        if (!c.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
          return;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }
}
