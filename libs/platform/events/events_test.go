package events_test

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	in := events.OTPDispatch{Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: "a@b.co", Code: "123456"}
	ev, err := events.New(events.TypeOTPDispatch, "acc-1", in)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != events.TypeOTPDispatch || ev.AccountID != "acc-1" || time.Since(ev.OccurredAt) > time.Minute {
		t.Fatalf("envelope = %+v", ev)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var wire map[string]any
	_ = json.Unmarshal(raw, &wire)
	for _, field := range []string{"eventId", "type", "occurredAt", "accountId", "payload"} {
		if _, ok := wire[field]; !ok {
			t.Errorf("wire form lacks %s: %s", field, raw)
		}
	}
	var back events.Envelope
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	var got events.OTPDispatch
	if err := back.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got != in {
		t.Fatalf("payload = %+v, want %+v", got, in)
	}
	if err := (events.Envelope{Type: "x", Payload: json.RawMessage(`[`)}).Decode(&got); err == nil {
		t.Fatal("Decode of a broken payload: want an error")
	}
}

func TestNewIDIsUUIDv4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := events.NewID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("NewID() = %q (repeat: %v)", id, seen[id])
		}
		seen[id] = true
	}
}
