package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/httpapi"
	"github.com/latchkey/latchkey/services/notification/internal/providertest"
	"github.com/latchkey/latchkey/services/notification/internal/store"
)

const callbackURL = "https://api.latchkey.test/api/v1/notifications/twilio/status"

// newCallbackApp serves the status callback over a store holding one sent SMS with provider id SM1.
func newCallbackApp(t testing.TB) (*fiber.App, *mongo.Database) {
	t.Helper()
	env := testenv.New(t)
	db := env.Database("notification")
	deliveries := store.NewDeliveries(db)
	ctx := context.Background()
	if err := deliveries.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := deliveries.AddMessage(ctx, delivery.MessageRecord{ID: "ev-1:sms", EventID: "ev-1", Channel: "SMS", Status: delivery.StatusQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := deliveries.UpdateMessage(ctx, "ev-1:sms", delivery.MessageUpdate{Status: delivery.StatusSent, ProviderMessageID: "SM1"}, now); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	app, err := httpx.NewApp(httpx.Options{Service: "notification", Logger: log, BodyLimit: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	h := httpapi.NewHandler(nil, log).WithStatusCallback(httpapi.NewStatusCallback(providertest.TwilioAuthToken, callbackURL, deliveries))
	httpapi.Routes(app, h, false)
	return app, db
}

func postCallback(t *testing.T, app *fiber.App, form url.Values, signature string) (int, map[string]any) {
	t.Helper()
	sent := form.Encode()
	req := httptest.NewRequest(http.MethodPost, httpapi.StatusCallbackPath, strings.NewReader(sent))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	resp, err := app.Test(req, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.CheckResponse(t, req, []byte(sent), resp, raw)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

func messageStatus(t *testing.T, db *mongo.Database) bson.M {
	t.Helper()
	var doc bson.M
	if err := db.Collection(store.MessagesCollection).FindOne(context.Background(), bson.M{"_id": "ev-1:sms"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestTwilioStatusCallback(t *testing.T) {
	t.Parallel()
	form := func(status string, extra ...string) url.Values {
		v := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {status}, "AccountSid": {providertest.TwilioAccountSID}, "To": {"+15551234567"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	sign := func(v url.Values) string {
		return providertest.SignTwilio(providertest.TwilioAuthToken, callbackURL, v)
	}
	for _, tc := range []struct {
		name       string
		form       url.Values
		signature  func(url.Values) string
		wantStatus int
		wantRecord string // the message's status afterwards
		wantError  string
	}{
		{name: "delivered", form: form("delivered"), signature: sign, wantStatus: 204, wantRecord: "delivered"},
		{name: "undelivered with the error", form: form("undelivered", "ErrorCode", "30003", "ErrorMessage", "Unreachable destination handset"), signature: sign, wantStatus: 204, wantRecord: "failed", wantError: "twilio error 30003"},
		{name: "still sent while queued", form: form("queued"), signature: sign, wantStatus: 204, wantRecord: "sent"},
		{name: "no signature", form: form("delivered"), signature: func(url.Values) string { return "" }, wantStatus: 403, wantRecord: "sent"},
		{
			name: "forged signature", form: form("delivered"), wantStatus: 403, wantRecord: "sent",
			signature: func(v url.Values) string { return providertest.SignTwilio("not-the-token", callbackURL, v) },
		},
		{
			name: "signature of other parameters", form: form("delivered"), wantStatus: 403, wantRecord: "sent",
			signature: func(url.Values) string { return sign(form("failed")) },
		},
		{
			name: "signature for another URL", form: form("delivered"), wantStatus: 403, wantRecord: "sent",
			signature: func(v url.Values) string {
				return providertest.SignTwilio(providertest.TwilioAuthToken, "https://evil.example/api/v1/notifications/twilio/status", v)
			},
		},
		// A SID not stored (yet) is kept for reconciliation, not refused: see TestTwilioStatusBeforeSIDStored.
		{name: "unknown message", form: url.Values{"MessageSid": {"SM404"}, "MessageStatus": {"delivered"}}, signature: sign, wantStatus: 202, wantRecord: "sent"},
		{name: "no message sid", form: url.Values{"MessageStatus": {"delivered"}}, signature: sign, wantStatus: 422, wantRecord: "sent"},
		{name: "unknown status", form: form("exploded"), signature: sign, wantStatus: 422, wantRecord: "sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app, db := newCallbackApp(t)
			status, body := postCallback(t, app, tc.form, tc.signature(tc.form))
			if status != tc.wantStatus {
				t.Errorf("status = %d %v, want %d", status, body, tc.wantStatus)
			}
			if status >= 400 && body["detail"] == nil {
				t.Errorf("error body %v lacks the plain detail", body)
			}
			rec := messageStatus(t, db)
			if rec["status"] != tc.wantRecord {
				t.Errorf("message status = %v, want %s", rec["status"], tc.wantRecord)
			}
			if tc.wantError != "" && !strings.Contains(rec["lastError"].(string), tc.wantError) {
				t.Errorf("lastError = %v, want %q", rec["lastError"], tc.wantError)
			}
		})
	}
}

func TestTwilioStatusCallbackAbsentWithoutTwilio(t *testing.T) {
	app, _ := newApp(t, true)
	status, body := postCallback(t, app, url.Values{"MessageSid": {"SM1"}}, "x")
	if status != http.StatusNotFound || body["detail"] != "Not Found" {
		t.Errorf("got %d %v, want the plain 404", status, body)
	}
}

// TestTwilioStatusBeforeSIDStored: Twilio may call back before the sender has stored the message's
// SID (the API answered, the service has not written it yet). Those reports are kept (202, which
// Twilio does not retry, instead of a 404 that would lose them) and applied, oldest first and never
// going back from a final state, when the SID is stored; nothing is left behind.
func TestTwilioStatusBeforeSIDStored(t *testing.T) {
	t.Parallel()
	app, db := newCallbackApp(t)
	ctx := context.Background()
	deliveries := store.NewDeliveries(db)
	now := time.Now()
	if err := deliveries.AddMessage(ctx, delivery.MessageRecord{ID: "ev-2:sms", EventID: "ev-2", Channel: "SMS", Status: delivery.StatusQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := deliveries.UpdateMessage(ctx, "ev-2:sms", delivery.MessageUpdate{Status: delivery.StatusSending, CountAttempt: true}, now); err != nil {
		t.Fatal(err)
	}
	// Twilio's callbacks, in the order they arrive: "sent" late, after "delivered".
	for _, status := range []string{"queued", "delivered", "sent"} {
		form := url.Values{"MessageSid": {"SM2"}, "MessageStatus": {status}, "AccountSid": {providertest.TwilioAccountSID}}
		code, body := postCallback(t, app, form, providertest.SignTwilio(providertest.TwilioAuthToken, callbackURL, form))
		if code != http.StatusAccepted {
			t.Fatalf("callback %s before the SID is stored = %d %v, want 202", status, code, body)
		}
	}
	pending := func() int64 {
		n, err := db.Collection(store.PendingStatusCollection).CountDocuments(ctx, bson.M{"providerMessageId": "SM2"})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := pending(); n != 3 {
		t.Fatalf("%d reports kept, want 3", n)
	}
	// The sender stores the SID (delivery.Service after Twilio's API answered).
	if err := deliveries.UpdateMessage(ctx, "ev-2:sms", delivery.MessageUpdate{Status: delivery.StatusSent, ProviderMessageID: "SM2"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	var doc bson.M
	if err := db.Collection(store.MessagesCollection).FindOne(ctx, bson.M{"_id": "ev-2:sms"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["status"] != "delivered" || doc["providerStatus"] == nil {
		t.Errorf("message after reconciliation = %v, want delivered with the provider's status", doc)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d reports still kept after reconciliation, want 0", n)
	}
	// Later callbacks for the SID apply directly.
	form := url.Values{"MessageSid": {"SM2"}, "MessageStatus": {"read"}, "AccountSid": {providertest.TwilioAccountSID}}
	if code, body := postCallback(t, app, form, providertest.SignTwilio(providertest.TwilioAuthToken, callbackURL, form)); code != http.StatusNoContent {
		t.Errorf("callback after the SID is stored = %d %v, want 204", code, body)
	}
}

// TestTwilioStatusRacingSIDStore: callbacks and the SID's storing race; whichever writes last finds
// the other's write, so every report is applied exactly once and none is left behind.
func TestTwilioStatusRacingSIDStore(t *testing.T) {
	t.Parallel()
	app, db := newCallbackApp(t)
	ctx := context.Background()
	deliveries := store.NewDeliveries(db)
	now := time.Now()
	const n = 8
	for i := range n {
		id := fmt.Sprintf("ev-r%d:sms", i)
		if err := deliveries.AddMessage(ctx, delivery.MessageRecord{ID: id, EventID: fmt.Sprintf("ev-r%d", i), Channel: "SMS", Status: delivery.StatusSending, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		sid := fmt.Sprintf("SMR%d", i)
		wg.Go(func() {
			form := url.Values{"MessageSid": {sid}, "MessageStatus": {"delivered"}, "AccountSid": {providertest.TwilioAccountSID}}
			if code, body := postCallback(t, app, form, providertest.SignTwilio(providertest.TwilioAuthToken, callbackURL, form)); code != http.StatusAccepted && code != http.StatusNoContent {
				t.Errorf("callback for %s = %d %v, want 202 or 204", sid, code, body)
			}
		})
		wg.Go(func() {
			if err := deliveries.UpdateMessage(ctx, fmt.Sprintf("ev-r%d:sms", i), delivery.MessageUpdate{Status: delivery.StatusSent, ProviderMessageID: sid}, time.Now()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		var doc bson.M
		if err := db.Collection(store.MessagesCollection).FindOne(ctx, bson.M{"_id": fmt.Sprintf("ev-r%d:sms", i)}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		if doc["status"] != "delivered" {
			t.Errorf("message %d = %v, want delivered", i, doc["status"])
		}
	}
	if left, err := db.Collection(store.PendingStatusCollection).CountDocuments(ctx, bson.M{}); err != nil || left != 0 {
		t.Errorf("%d reports left behind (err %v), want 0", left, err)
	}
}
