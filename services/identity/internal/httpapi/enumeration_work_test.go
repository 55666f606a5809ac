package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// The bench timed forgot-password as different for known and unknown addresses. Both now make the
// same writes: a known address's code goes to the outbox; an unknown address's silent send makes the
// same outbox write, marked discarded (never published, no code in it), so the answer costs the same
// round trips either way.
func TestForgotPasswordWritesAlikeForKnownAndUnknown(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.signUp(t, "ada@example.com")
	outboxDocs := func() int64 {
		n, err := h.db.Collection(kafkax.OutboxCollection).CountDocuments(context.Background(), bson.D{{Key: "topic", Value: events.TopicOTPDispatch}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, email := range []string{"ada@example.com", "nobody@example.com"} {
		before := outboxDocs()
		if r := h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": email}); r.status != http.StatusAccepted {
			t.Fatalf("forgot-password %s = %d %s", email, r.status, r.raw)
		}
		if got := outboxDocs() - before; got != 1 {
			t.Errorf("forgot-password %s: %d outbox writes, want 1 (the same for known and unknown)", email, got)
		}
	}
	var discarded struct {
		Event []byte `bson:"event"`
	}
	if err := h.db.Collection(kafkax.OutboxCollection).FindOne(context.Background(), bson.D{{Key: "discarded", Value: true}}).Decode(&discarded); err != nil {
		t.Fatalf("no discarded outbox document for the unknown address: %v", err)
	}
	var env events.Envelope
	var payload events.OTPDispatch
	if err := json.Unmarshal(discarded.Event, &env); err != nil || env.Decode(&payload) != nil || payload.Code != "" || payload.Destination != "nobody@example.com" {
		t.Errorf("discarded dispatch = %s, want one without a code", discarded.Event)
	}
	if d := h.dispatches(t, "nobody@example.com"); len(d) != 0 {
		t.Errorf("dispatches to the unknown address = %+v, want none", d)
	}
}
