package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
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
	req := httptest.NewRequest(http.MethodPost, httpapi.StatusCallbackPath, strings.NewReader(form.Encode()))
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
		{name: "unknown message", form: url.Values{"MessageSid": {"SM404"}, "MessageStatus": {"delivered"}}, signature: sign, wantStatus: 404, wantRecord: "sent"},
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
