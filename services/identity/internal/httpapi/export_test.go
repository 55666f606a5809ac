package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/export"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/recovery"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

const exportPath = "/api/v1/account/export"

// exportsOf maps each harness to its export service.
var exportsOf sync.Map

// registerTestExports mounts the export routes on the harness's app as main does, with the real
// store, limiter and outbox, and an hour between two exports of one account.
func registerTestExports(h *harness, requireAuth fiber.Handler, limiter *throttle.Limiter) {
	db := h.db
	exportStore := store.NewExports(db)
	if err := exportStore.EnsureIndexes(context.Background()); err != nil {
		panic(err)
	}
	svc := export.NewService(export.Config{TTL: 24 * time.Hour, Interval: time.Hour}, export.Deps{
		Store: exportStore, Limiter: limiter, Outbox: h.outbox, Activity: h.svc, Accounts: store.NewAccounts(db), Logger: quiet,
		Sources: export.Sources{
			Devices: store.NewDevices(db), Providers: store.NewProviders(db), Passkeys: store.NewPasskeys(db),
			Authenticators: store.NewAuthenticators(db), APIKeys: store.NewAPIKeys(db), Usernames: store.NewUsernames(db),
			RecoveryCodes: recovery.New(recovery.KeyFrom("pepper-for-tests-0123456789abcdef"), store.NewRecoveryCodes(db)),
		},
	})
	httpapi.RegisterExports(h.app, requireAuth, h.svc, svc, quiet)
	exportsOf.Store(h, svc)
}

func (h *harness) exports() *export.Service {
	v, _ := exportsOf.Load(h)
	return v.(*export.Service)
}

// deliverPart hands the export consumer one service's part, as it would arrive on account.exports.v1.
func (h *harness) deliverPart(t *testing.T, accountID, exportID, service, data string) {
	t.Helper()
	ev, err := events.NewExportPart(accountID, exportID, service, json.RawMessage(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.exports().Collect(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// TestExportEndpoints: starting an export needs a step-up and is closed to API keys; it answers 202,
// queues the request for the other services and records the activity; a second request within the
// interval is a 429; reading it is 202 while parts are missing, 200 with every part once complete,
// and 404 for another account.
func TestExportEndpoints(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	eve := h.signUp(t, "eve@example.com")

	t.Run("step-up required", func(t *testing.T) {
		wantReauthRequired(t, h.stepUp(t, "POST", exportPath, ada.token, "", nil), exportPath)
		wantReauthRequired(t, h.stepUp(t, "POST", exportPath, ada.token, "rat_made-up", nil), exportPath)
		// Another session's step-up token is no proof for this one.
		other := h.mintStepUp(t, ada.id, "another-session", "pwd", time.Minute)
		wantReauthRequired(t, h.stepUp(t, "POST", exportPath, ada.token, other, nil), exportPath)
	})
	t.Run("API key refused", func(t *testing.T) {
		key, _ := h.issueKey(t, ada.id)
		for _, r := range []response{
			h.stepUp(t, "POST", exportPath, key, h.mintStepUp(t, ada.id, ada.sid, "pwd", time.Minute), nil),
			h.do(t, request{method: "GET", path: exportPath + "/0b9f7f0e-1c2d-4e3f-8a5b-6c7d8e9f0a1b", token: key}),
		} {
			if r.status != http.StatusForbidden {
				t.Errorf("with an API key = %d %s, want 403", r.status, r.raw)
			}
		}
	})
	if n := len(h.queuedExportRequests(t)); n != 0 {
		t.Fatalf("refused requests queued %d export requests", n)
	}

	reauth := h.mintStepUp(t, ada.id, ada.sid, "pwd", time.Minute)
	started := h.stepUp(t, "POST", exportPath, ada.token, reauth, nil).wantStatus(t, http.StatusAccepted, "start export")
	id := started.str("data.exportId")
	if !validUUIDString(id) || started.str("data.status") != "pending" || started.str("data.requestedAt") == "" {
		t.Fatalf("start = %s", started.raw)
	}
	reqs := h.queuedExportRequests(t)
	if len(reqs) != 1 || reqs[0].ExportID != id {
		t.Fatalf("export requests queued = %+v, want one for %s", reqs, id)
	}
	recorded := false
	for _, ev := range h.queued(t, events.TopicActivity) {
		var act events.Activity
		if ev.AccountID == ada.id && ev.Decode(&act) == nil && act.Kind == events.ActivityExportRequested && act.Details["exportId"] == id && act.SessionID == ada.sid {
			recorded = true
		}
	}
	if !recorded {
		t.Errorf("no export_requested activity with the export id and session")
	}

	t.Run("one export per interval", func(t *testing.T) {
		r := h.stepUp(t, "POST", exportPath, ada.token, reauth, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("second export = %d %s (Retry-After %q), want 429", r.status, r.raw, r.header.Get("Retry-After"))
		}
		if n := len(h.queuedExportRequests(t)); n != 1 {
			t.Errorf("export requests queued = %d, want still 1", n)
		}
	})

	// Reading needs a step-up too: the export id is in the activity log, which an access token reads.
	eveReauth := h.mintStepUp(t, eve.id, eve.sid, "pwd", time.Minute)
	get := func(token string) response {
		proof := reauth
		if token == eve.token {
			proof = eveReauth
		}
		return h.stepUp(t, "GET", exportPath+"/"+id, token, proof, nil)
	}
	if r := h.do(t, request{method: "GET", path: exportPath + "/" + id, token: ada.token}); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != "ReauthToken" {
		t.Errorf("GET without step-up = %d %s, want the step-up 401", r.status, r.raw)
	}
	get(ada.token).wantStatus(t, http.StatusAccepted, "pending export")
	t.Run("another account's export is a 404", func(t *testing.T) {
		get(eve.token).wantStatus(t, http.StatusNotFound, "eve reads ada's export")
		h.stepUp(t, "GET", exportPath+"/0b9f7f0e-1c2d-4e3f-8a5b-6c7d8e9f0a1b", ada.token, reauth, nil).wantStatus(t, http.StatusNotFound, "unknown export")
		h.stepUp(t, "GET", exportPath+"/not-a-uuid", ada.token, reauth, nil).wantStatus(t, http.StatusUnprocessableEntity, "malformed id")
		// A part for ada's export published under eve's account is dropped.
		h.deliverPart(t, eve.id, id, events.ExportServiceSession, `{"sessions":[{"id":"eve-session"}]}`)
	})

	h.deliverPart(t, ada.id, id, events.ExportServiceSession, `{"sessions":[{"id":"sess-ada-1"}]}`)
	h.deliverPart(t, ada.id, id, events.ExportServiceProfile, `{"profile":{"firstName":"Ada"}}`)
	get(ada.token).wantStatus(t, http.StatusAccepted, "export missing a part")
	h.deliverPart(t, ada.id, id, events.ExportServiceNotification, `{"deliveries":[{"channel":"EMAIL"}]}`)

	doc := get(ada.token).wantStatus(t, http.StatusOK, "complete export")
	if doc.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", doc.header.Get("Cache-Control"))
	}
	if doc.str("data.exportId") != id || doc.str("data.completedAt") == "" || doc.str("data.expiresAt") == "" ||
		doc.str("data.identity.account.email") != "ada@example.com" || doc.str("data.profile.profile.firstName") != "Ada" {
		t.Errorf("export = %s", doc.raw)
	}
	if sessions, _ := doc.at("data.session.sessions").([]any); len(sessions) != 1 || !strings.Contains(string(doc.raw), "sess-ada-1") || strings.Contains(string(doc.raw), "eve-session") {
		t.Errorf("session part = %v", doc.at("data.session"))
	}
	for _, secret := range []string{"$argon2id", "passwordHash", "refresh"} {
		if strings.Contains(string(doc.raw), secret) {
			t.Errorf("the export contains %q", secret)
		}
	}
	ready := 0
	for _, al := range h.securityAlerts(t, ada.id) {
		if al.Kind == events.AlertExportReady {
			ready++
			if al.Details["exportId"] != id || al.Destination != "ada@example.com" || len(al.Details) != 1 {
				t.Errorf("alert = %+v", al)
			}
		}
	}
	if ready != 1 {
		t.Errorf("export_ready alerts = %d, want 1", ready)
	}
	get(eve.token).wantStatus(t, http.StatusNotFound, "eve reads ada's complete export")
}

// queuedExportRequests returns the account.export_requested payloads in the outbox.
func (h *harness) queuedExportRequests(t *testing.T) []events.ExportRequested {
	t.Helper()
	var out []events.ExportRequested
	for _, ev := range h.queued(t, events.TopicAccountEvents) {
		if ev.Type != events.TypeExportRequested {
			continue
		}
		var p events.ExportRequested
		if err := ev.Decode(&p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// TestExportStoredWithoutSecrets: identity's own part holds the account's facts, devices, API keys and
// factor metadata, and none of the stored secrets (password hash, API key hash, TOTP secret).
func TestExportStoredWithoutSecrets(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "ada@example.com")
	_, keyID := h.issueKey(t, ada.id)
	reauth := h.mintStepUp(t, ada.id, ada.sid, "pwd", time.Minute)
	totpSecret := h.stepUp(t, "POST", "/api/v1/account/2fa/totp/setup", ada.token, reauth, nil).wantStatus(t, http.StatusOK, "totp setup").str("data.secret")
	if totpSecret == "" {
		t.Fatal("no TOTP secret")
	}
	id := h.stepUp(t, "POST", exportPath, ada.token, reauth, nil).wantStatus(t, http.StatusAccepted, "start export").str("data.exportId")

	var doc struct {
		AccountID string            `bson:"accountId"`
		Parts     map[string]string `bson:"parts"`
		Status    string            `bson:"status"`
	}
	if err := h.db.Collection(store.CollExports).FindOne(context.Background(), bson.M{"_id": id}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	part := doc.Parts[export.ServiceIdentity]
	if doc.AccountID != ada.id || doc.Status != export.StatusPending || part == "" {
		t.Fatalf("stored export = %+v", doc)
	}
	var data export.IdentityData
	if err := json.Unmarshal([]byte(part), &data); err != nil {
		t.Fatal(err)
	}
	if data.Account.Email != "ada@example.com" || !data.Account.HasPassword || len(data.TrustedDevices) != 1 || data.TrustedDevices[0].DeviceID != "laptop" ||
		len(data.APIKeys) != 1 || data.APIKeys[0].ID != keyID || data.Factors.RecoveryCodesRemaining == nil ||
		data.Factors.Authenticator == nil || data.Factors.Authenticator.Confirmed || data.Factors.Authenticator.CreatedAt.IsZero() {
		t.Errorf("identity part = %s", part)
	}
	var acc struct {
		PasswordHash string `bson:"passwordHash"`
	}
	var key struct {
		Hash string `bson:"hash"`
	}
	_ = h.db.Collection(store.CollAccounts).FindOne(context.Background(), bson.M{"_id": ada.id}).Decode(&acc)
	_ = h.db.Collection(store.CollAPIKeys).FindOne(context.Background(), bson.M{"_id": keyID}).Decode(&key)
	if acc.PasswordHash == "" || key.Hash == "" {
		t.Fatalf("test setup: password hash %q, key hash %q not found", acc.PasswordHash, key.Hash)
	}
	for _, secret := range []string{acc.PasswordHash, key.Hash, "argon2", totpSecret} {
		if strings.Contains(part, secret) {
			t.Errorf("the identity part contains a secret %q", secret)
		}
	}
}
