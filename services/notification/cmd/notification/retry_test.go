package main

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/providertest"
	"github.com/latchkey/latchkey/services/notification/internal/store"
)

// TestLiveRetryDoesNotHoldUpThePartition: an event whose destination keeps failing waits for its
// retries on the delayed retry topic, not on its partition. A second event of the same account (the
// same partition), published after it, is delivered while the first is still waiting for a retry; the
// first is retried later and, when its attempts run out, dead-lettered.
//
// The assertion is an ordering, not a latency: with the retries slow (3 attempts, 3 s apart), the
// second event's delivery is observed while the first one's record is still queued. Before the retry
// topic, the consumer slept between the first event's attempts and the second waited for all of them.
func TestLiveRetryDoesNotHoldUpThePartition(t *testing.T) {
	l := newLive(t, map[string]string{
		"DELIVERY_MAX_ATTEMPTS": "3",
		"DELIVERY_RETRY_BASE":   "3s",
		"DELIVERY_RETRY_MAX":    "3s",
	})
	otpDead := l.deadLetters(t, events.TopicOTPDispatchDLQ)
	retries := l.deadLetters(t, events.TopicOTPDispatchRetry) // reads any topic from the start

	const failing, fine = "+15551239001", "+15551239002"
	unavailable := providertest.TwilioAnswer{Status: 503, Code: 20503, Message: "Service Unavailable"}
	l.twilio.Script(failing, unavailable, unavailable, unavailable, unavailable)

	first := otpEvent(t, "acc-partition", events.ChannelSMS, failing, "111111", 10*time.Minute)
	second := otpEvent(t, "acc-partition", events.ChannelSMS, fine, "222222", 10*time.Minute)
	l.publish(t, events.TopicOTPDispatch, first)
	l.publish(t, events.TopicOTPDispatch, second)

	if !eventually(waitLong, func() bool { return len(l.twilio.Messages(fine)) == 1 }) {
		t.Fatal("the second event of the partition was never delivered")
	}
	if r := l.record(t, store.Collection, first.EventID); r == nil || r["status"] != "queued" {
		t.Fatalf("first event's record when the second was delivered = %v, want queued (waiting for a retry)", r)
	}
	if got := l.twilio.Requests(failing); got >= 3 {
		t.Errorf("the failing destination had %d attempts before the second event was delivered, want fewer than 3", got)
	}

	var onRetryTopic bool
	if !eventually(waitLong, func() bool {
		for _, ev := range retries() {
			if ev.EventID == first.EventID && ev.Type == events.TypeDeliveryRetry {
				onRetryTopic = true
			}
		}
		return onRetryTopic
	}) {
		t.Error("the failing event never went to the retry topic")
	}

	var dl *events.DeadLetter
	if !eventually(waitLong, func() bool { dl = deadLetterOf(t, otpDead(), first.EventID); return dl != nil }) {
		t.Fatalf("the failing event was never dead-lettered; record %v", l.record(t, store.Collection, first.EventID))
	}
	if dl.Attempts != 3 || !strings.Contains(dl.Reason, "20503") || dl.Topic != events.TopicOTPDispatch {
		t.Errorf("dead letter = %+v, want 3 attempts of otp.dispatch.v1 failing with 20503", dl)
	}
	if got := l.twilio.Requests(failing); got != 3 {
		t.Errorf("Twilio got %d requests for the failing destination, want 3", got)
	}
	if got := len(l.twilio.Messages(fine)); got != 1 {
		t.Errorf("the second destination got %d messages, want exactly 1", got)
	}
	if r := l.record(t, store.Collection, first.EventID); r == nil || r["status"] != "failed" {
		t.Errorf("first event's record = %v, want failed", r)
	}
	// The retry topic carries the code (it replays the original event); the dead letter does not.
	if strings.Contains(string(dl.Payload), "111111") {
		t.Errorf("dead letter payload %s holds the code", dl.Payload)
	}
}
