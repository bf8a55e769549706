package io.connmgr.connection;

import static org.assertj.core.api.Assertions.assertThat;

import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The one call tracker: moving calls, failing them, refusing late ones. */
class CallTrackerTest {

  /** A call that records what is done to it and hands its listener out. */
  private static final class RecordingCall extends ClientCall<String, String> {
    Listener<String> listener;
    final List<String> cancels = new ArrayList<>();

    @Override
    public void start(Listener<String> l, Metadata headers) {
      listener = l;
    }

    @Override
    public void request(int numMessages) {}

    @Override
    public void cancel(String message, Throwable cause) {
      cancels.add(message);
    }

    @Override
    public void halfClose() {}

    @Override
    public void sendMessage(String message) {}
  }

  private static final class Closes extends ClientCall.Listener<String> {
    final List<Status> statuses = new ArrayList<>();

    @Override
    public void onClose(Status status, Metadata trailers) {
      statuses.add(status);
    }
  }

  @Test
  void aStreamRecreatedOnAnotherServerMovesItsCallAndLeavesNothingBehind() {
    CallTracker first = new CallTracker(new ServerKey("querynode", 1, "10.0.0.1:1"));
    CallTracker second = new CallTracker(new ServerKey("querynode", 2, "10.0.0.2:1"));
    RecordingCall raw = new RecordingCall();
    CallTracker.TrackedCall<String, String> call = new CallTracker.TrackedCall<>(null);
    call.delegate = raw;
    Closes closes = new Closes();
    call.start(closes, new Metadata());

    call.attach(first);
    assertThat(first.size()).isEqualTo(1);
    call.attach(second); // grpc-java transparently retried the stream on another transport
    assertThat(first.size()).isZero();
    assertThat(second.size()).isEqualTo(1);
    assertThat(first.failAll(Status.UNAVAILABLE.withDescription("first gone"))).isZero();
    assertThat(raw.cancels).isEmpty();

    raw.listener.onClose(Status.OK, new Metadata());
    assertThat(second.size()).isZero();
    assertThat(closes.statuses).containsExactly(Status.OK);
  }

  @Test
  void aCallThatCompletedBeforeTheCancelTookEffectKeepsItsOk() {
    // the transport had the whole response when the server was removed; its callbacks were still queued
    CallTracker tracker = new CallTracker(new ServerKey("querynode", 7, "10.0.0.7:1"));
    RecordingCall raw = new RecordingCall();
    ClientCall<String, String> call = tracker.track(raw);
    Closes closes = new Closes();
    call.start(closes, new Metadata());
    assertThat(tracker.failAll(Status.UNAVAILABLE.withDescription("querynode-7 deregistered"))).isEqualTo(1);
    call.sendMessage("late"); // the application's next step after the cancel: dropped, not thrown

    raw.listener.onClose(Status.OK, new Metadata());
    assertThat(closes.statuses).containsExactly(Status.OK);
  }

  @Test
  void failAllCancelsAndReplacesTheStatusOnce() {
    CallTracker tracker = new CallTracker(new ServerKey("querynode", 7, "10.0.0.7:1"));
    RecordingCall raw = new RecordingCall();
    ClientCall<String, String> call = tracker.track(raw);
    Closes closes = new Closes();
    Metadata headers = new Metadata();
    call.start(closes, headers);
    assertThat(headers.get(CallTracker.SERVER_ID)).isEqualTo("7");

    Status gone = Status.UNAVAILABLE.withDescription("querynode-7 (10.0.0.7:1) deregistered");
    assertThat(tracker.failAll(gone)).isEqualTo(1);
    assertThat(tracker.failAll(gone)).isZero();
    assertThat(raw.cancels).containsExactly("querynode-7 (10.0.0.7:1) deregistered");
    assertThat(closes.statuses).isEmpty(); // delivered by grpc-java later, never inside failAll
    raw.listener.onClose(Status.CANCELLED, new Metadata());
    assertThat(closes.statuses).containsExactly(gone);
    assertThat(tracker.size()).isZero();
  }

  @Test
  void aCallStartedAfterTheRefusalIsFailedToo() {
    CallTracker tracker = new CallTracker(new ServerKey("querynode", 7, "10.0.0.7:1"));
    RecordingCall raw = new RecordingCall();
    ClientCall<String, String> call = tracker.track(raw); // the caller checked before the refusal was set
    tracker.refusal = Status.UNAVAILABLE.withDescription("gone");
    call.start(new Closes(), new Metadata());
    assertThat(raw.cancels).containsExactly("gone");
  }
}
