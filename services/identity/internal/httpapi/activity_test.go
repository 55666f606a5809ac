package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
)

// activityEvents returns the activity events identity queued in its outbox, published or
// discarded.
func (h *harness) activityEvents(t *testing.T, discarded bool) []events.Envelope {
	t.Helper()
	f := bson.D{{Key: "topic", Value: events.TopicActivity}}
	if discarded {
		f = append(f, bson.E{Key: "discarded", Value: true})
	} else {
		f = append(f, bson.E{Key: "discarded", Value: bson.D{{Key: "$ne", Value: true}}})
	}
	cur, err := h.db.Collection(kafkax.OutboxCollection).Find(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		Event []byte `bson:"event"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		t.Fatal(err)
	}
	out := make([]events.Envelope, len(docs))
	for i, d := range docs {
		if err := json.Unmarshal(d.Event, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// consumeActivity hands the queued activity events to the activity consumer's handler, as Kafka would.
func (h *harness) consumeActivity(t *testing.T) {
	t.Helper()
	handle := activity.Handler(h.activity, quiet)
	for _, ev := range h.activityEvents(t, false) {
		if err := handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) activityPage(t *testing.T, token, query string) response {
	t.Helper()
	return h.do(t, request{method: http.MethodGet, path: "/api/v1/account/activity" + query, token: token})
}

func activityItems(t *testing.T, r response) []map[string]any {
	t.Helper()
	raw, _ := r.at("data.items").([]any)
	out := make([]map[string]any, len(raw))
	for i, it := range raw {
		out[i], _ = it.(map[string]any)
	}
	return out
}

// A failed login of an existing account records one entry with its reason; a failed login of an
// unknown e-mail records nothing, yet makes the same outbox write (discarded), so both cost alike.
func TestFailedLoginActivityOnlyForExistingAccounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	count := func() (kept, discarded int) {
		return len(h.activityEvents(t, false)), len(h.activityEvents(t, true))
	}
	kept0, disc0 := count()

	bad := map[string]any{"identifier": "ada@example.com", "password": "Wrong-Pass-123", "device_id": "laptop", "device_name": "Ada's laptop", "platform": "web"}
	if r := h.do(t, request{path: "/api/v1/auth/login", body: mustJSON(bad), ip: "203.0.113.9", userAgent: "Firefox/128"}); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d %s", r.status, r.raw)
	}
	kept1, disc1 := count()
	if kept1-kept0 != 1 || disc1 != disc0 {
		t.Fatalf("wrong password of ada: %d kept and %d discarded activity writes, want 1 and 0", kept1-kept0, disc1-disc0)
	}

	unknown := map[string]any{"identifier": "nobody@example.com", "password": "Wrong-Pass-123", "device_id": "laptop"}
	if r := h.post(t, "/api/v1/auth/login", unknown); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown e-mail = %d %s", r.status, r.raw)
	}
	kept2, disc2 := count()
	if kept2 != kept1 || disc2-disc1 != 1 {
		t.Errorf("unknown e-mail: %d kept and %d discarded activity writes, want 0 and 1 (the same cost, nothing recorded)", kept2-kept1, disc2-disc1)
	}
	for _, ev := range h.activityEvents(t, true) {
		if strings.Contains(string(ev.Payload), "nobody") || strings.Contains(string(ev.Payload), "198.51.100.7") {
			t.Errorf("the discarded write holds the unknown identifier: %s", ev.Payload)
		}
	}

	h.consumeActivity(t)
	r := h.activityPage(t, ada.token, "?kind=sign_in")
	if r.status != http.StatusOK {
		t.Fatalf("GET activity = %d %s", r.status, r.raw)
	}
	items := activityItems(t, r)
	if len(items) != 2 {
		t.Fatalf("sign-ins = %s, want the failed one and the registration's", r.raw)
	}
	failed := items[0]
	dev, _ := failed["device"].(map[string]any)
	if failed["outcome"] != "failed" || failed["reason"] != "wrong_password" || failed["ipAddress"] != "203.0.113.9" ||
		failed["userAgent"] != "Firefox/128" || dev["name"] != "Ada's laptop" || dev["platform"] != "WEB" || dev["id"] != "laptop" {
		t.Errorf("newest sign-in = %v, want the failed one with its device and client", failed)
	}
	if ok := items[1]; ok["outcome"] != "succeeded" || ok["sessionId"] != ada.sid || fmt.Sprint(ok["details"]) != "map[method:password]" {
		t.Errorf("older sign-in = %v, want the registration's session %s", ok, ada.sid)
	}
	n, err := h.db.Collection(activity.CollEntries).CountDocuments(context.Background(), bson.D{{Key: "accountId", Value: bson.D{{Key: "$ne", Value: ada.id}}}})
	if err != nil || n != 0 {
		t.Errorf("%d entries of other accounts (%v), want none", n, err)
	}
}

// A login from a new device is recorded as failed with reason new_device; the code that verifies it
// records device_verified and the sign-in.
func TestNewDeviceActivity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	r := h.post(t, "/api/v1/auth/login", map[string]any{"identifier": "ada@example.com", "password": goodPassword, "device_id": "phone", "device_name": "Pixel", "platform": "android"})
	if r.status != http.StatusOK || r.str("device_verification_token") == "" {
		t.Fatalf("login from a new device = %d %s", r.status, r.raw)
	}
	if v := h.post(t, "/api/v1/account/device/verify", map[string]any{"deviceVerificationToken": r.str("device_verification_token"), "otp": "000000", "deviceId": "phone"}); v.status == http.StatusOK {
		t.Fatalf("a wrong code verified the device: %s", v.raw)
	}
	h.consumeActivity(t)
	items := activityItems(t, h.activityPage(t, ada.token, ""))
	var got []string
	for _, it := range items {
		got = append(got, fmt.Sprintf("%v/%v/%v", it["kind"], it["outcome"], it["reason"]))
	}
	want := []string{"sign_in/failed/device_verification_failed", "sign_in/failed/new_device", "sign_in/succeeded/"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("log = %v, want %v", got, want)
	}
}

// GET /api/v1/account/activity: the owner's entries only, newest first, paged; bad query values are
// a 422 naming the field; API keys are refused.
func TestActivityEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	bob := h.signUp(t, "bob@example.com")
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i := range 5 {
		e := activity.Entry{ID: fmt.Sprintf("ada-%d", i), AccountID: ada.id, OccurredAt: base.Add(time.Duration(i) * time.Minute),
			Activity: events.Activity{Kind: events.ActivityPasswordChanged, Actor: events.Actor{Type: events.ActorOwner}, Details: map[string]string{"how": "change"}}}
		if i == 4 {
			e.Kind, e.Actor = events.ActivityAdminAction, events.Actor{Type: events.ActorSupport, ID: "operator-7"}
		}
		if _, err := h.activity.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.activity.Record(ctx, activity.Entry{ID: "bob-1", AccountID: bob.id, OccurredAt: base,
		Activity: events.Activity{Kind: events.ActivityPasswordChanged, Actor: events.Actor{Type: events.ActorOwner}}}); err != nil {
		t.Fatal(err)
	}

	r := h.activityPage(t, ada.token, "?kind=password_changed&size=3")
	if r.status != http.StatusOK {
		t.Fatalf("GET = %d %s", r.status, r.raw)
	}
	var ids []any
	for _, it := range activityItems(t, r) {
		ids = append(ids, it["id"])
	}
	if fmt.Sprint(ids) != "[ada-3 ada-2 ada-1]" || r.at("data.total") != float64(4) || r.at("data.totalPages") != float64(2) ||
		r.at("data.page") != float64(0) || r.at("data.size") != float64(3) {
		t.Errorf("first page = %s, want ada-3..ada-1 of 4", r.raw)
	}
	r = h.activityPage(t, ada.token, "?page=1&size=3&kind=password_changed")
	if items := activityItems(t, r); len(items) != 1 || items[0]["id"] != "ada-0" {
		t.Errorf("second page = %s, want ada-0", r.raw)
	}
	r = h.activityPage(t, ada.token, "")
	items := activityItems(t, r)
	if len(items) == 0 {
		t.Fatalf("no entries: %s", r.raw)
	}
	if top := items[0]; top["id"] != "ada-4" || fmt.Sprint(top["actor"]) != "map[id:operator-7 type:support]" || top["notMe"] != false {
		t.Errorf("newest entry = %v, want the support action with the operator's id", top)
	}
	for _, it := range items {
		if strings.HasPrefix(fmt.Sprint(it["id"]), "bob") {
			t.Errorf("ada sees bob's entry %v", it)
		}
	}
	if items := activityItems(t, h.activityPage(t, bob.token, "?kind=password_changed")); len(items) != 1 || items[0]["id"] != "bob-1" {
		t.Errorf("bob's log = %v, want bob-1 only", items)
	}

	for _, tc := range []struct{ query, field string }{
		{"?page=-1", "page"}, {"?page=x", "page"}, {"?size=0", "size"}, {"?size=101", "size"}, {"?kind=everything", "kind"},
	} {
		r := h.activityPage(t, ada.token, tc.query)
		if r.status != http.StatusUnprocessableEntity || r.at("data."+tc.field) == nil || r.at("success") != false {
			t.Errorf("%s = %d %s, want a 422 envelope naming %s", tc.query, r.status, r.raw, tc.field)
		}
	}
	if r := h.activityPage(t, "", ""); r.status != http.StatusUnauthorized {
		t.Errorf("without a token = %d, want 401", r.status)
	}
	key, _ := h.issueKey(t, ada.id)
	if r := h.activityPage(t, key, ""); r.status != http.StatusForbidden {
		t.Errorf("with an API key = %d %s, want 403", r.status, r.raw)
	}
}

// activityLog returns the owner's log, newest first, after handing
// the queued events to the consumer.
func (h *harness) activityLog(t *testing.T, token string) []map[string]any {
	t.Helper()
	h.consumeActivity(t)
	r := h.activityPage(t, token, "?size=100")
	if r.status != http.StatusOK {
		t.Fatalf("GET activity = %d %s", r.status, r.raw)
	}
	return activityItems(t, r)
}

func findItem(items []map[string]any, kind string, details map[string]string) map[string]any {
	for _, it := range items {
		if it["kind"] != kind {
			continue
		}
		d, _ := it["details"].(map[string]any)
		match := true
		for k, v := range details {
			if d[k] != v {
				match = false
			}
		}
		if match {
			return it
		}
	}
	return nil
}

// Changes made in a session carry that session, the device it started on and the client; a
// sign-in completed by a second factor says so; a wrong second factor is a failed sign-in; an API
// key's first use is recorded once.
func TestChangeAndTwoFactorActivity(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reg := h.register(t, "ada@example.com", map[string]any{"device_id": "laptop", "device_name": "Ada's laptop", "platform": "web"})
	token, sid, id := reg.str("access_token"), reg.str("session_id"), reg.str("user.id")

	if r := h.do(t, request{method: "POST", path: "/api/v1/account/2fa/enable", body: `{"password":"` + goodPassword + `"}`, token: token, ip: "192.0.2.44", userAgent: "Firefox/128"}); r.status != http.StatusOK {
		t.Fatalf("enable 2FA = %d %s", r.status, r.raw)
	}
	enabled := findItem(h.activityLog(t, token), events.ActivityTwoFactorChanged, map[string]string{"factor": "codes", "change": "added"})
	dev, _ := enabled["device"].(map[string]any)
	if enabled == nil || enabled["sessionId"] != sid || dev["name"] != "Ada's laptop" || dev["id"] != "laptop" ||
		enabled["ipAddress"] != "192.0.2.44" || enabled["userAgent"] != "Firefox/128" {
		t.Fatalf("2FA enabled entry = %v, want session %s on Ada's laptop from 192.0.2.44", enabled, sid)
	}

	r := h.post(t, "/api/v1/auth/login", map[string]any{"identifier": "ada@example.com", "password": goodPassword, "device_id": "tablet"})
	tfa := r.str("two_factor_token")
	if tfa == "" {
		t.Fatalf("login = %s, want a two-factor challenge", r.raw)
	}
	code := h.lastCode(t, "ada@example.com")
	if bad := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "otp_code": otherCode(code)}); bad.status != http.StatusBadRequest {
		t.Fatalf("wrong code = %d %s", bad.status, bad.raw)
	}
	ok := h.post(t, "/api/v1/auth/verify-2fa", map[string]any{"two_factor_token": tfa, "otp_code": code, "device_name": "Galaxy Tab", "platform": "android"})
	if ok.status != http.StatusOK {
		t.Fatalf("verify-2fa = %d %s", ok.status, ok.raw)
	}
	items := h.activityLog(t, token)
	if f := findItem(items, events.ActivitySignIn, nil); f == nil || f["sessionId"] != ok.str("session_id") ||
		fmt.Sprint(f["details"]) != "map[method:two_factor secondFactor:email]" {
		t.Errorf("newest sign-in = %v, want the two-factor one", f)
	}
	var failed map[string]any
	for _, it := range items {
		if it["reason"] == "two_factor_failed" {
			failed = it
		}
	}
	if failed == nil || failed["outcome"] != "failed" {
		t.Errorf("no failed two-factor sign-in in %v", items)
	}
	if v := findItem(items, events.ActivityDeviceVerified, nil); v == nil || fmt.Sprint(v["device"]) != "map[id:tablet name:Galaxy Tab platform:ANDROID]" {
		t.Errorf("device_verified = %v, want the tablet", v)
	}

	key, keyID := h.issueKey(t, id)
	for range 2 {
		if !h.keyWorks(t, key) {
			t.Fatal("the new key does not work")
		}
	}
	used := 0
	for _, it := range h.activityLog(t, token) {
		if it["kind"] == events.ActivityAPIKeyFirstUsed {
			used++
			if d, _ := it["details"].(map[string]any); d["keyId"] != keyID {
				t.Errorf("first use = %v, want key %s", it, keyID)
			}
		}
	}
	if used != 1 {
		t.Errorf("%d api_key_first_used entries, want 1", used)
	}
}
