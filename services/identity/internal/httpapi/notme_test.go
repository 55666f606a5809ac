package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// fakeActivity stands in for the activity log store: activity.Reader and the NotMeMarker.
type fakeActivity struct {
	mu      sync.Mutex
	entries map[string]activity.Entry
	marked  map[string]time.Time
}

func newFakeActivity() *fakeActivity {
	return &fakeActivity{entries: map[string]activity.Entry{}, marked: map[string]time.Time{}}
}

func (f *fakeActivity) add(e activity.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries[e.ID] = e
}

func (f *fakeActivity) List(context.Context, string, activity.Query) (activity.Page, error) {
	return activity.Page{}, nil
}

func (f *fakeActivity) Get(_ context.Context, accountID, id string) (activity.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.entries[id]
	if !ok || e.AccountID != accountID {
		return activity.Entry{}, activity.ErrNotFound
	}
	return e, nil
}

func (f *fakeActivity) MarkNotMe(_ context.Context, accountID, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.entries[id]; !ok || e.AccountID != accountID {
		return activity.ErrNotFound
	}
	f.marked[id] = at
	return nil
}

func (f *fakeActivity) markedAt(id string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.marked[id]
}

const notMePage = "https://accounts.example.com/not-me"

// enableNotMe turns "this wasn't me" on for the harness, with links to notMePage, and returns the
// fake activity log.
func enableNotMe(t *testing.T, h *harness) *fakeActivity {
	t.Helper()
	f := newFakeActivity()
	keys := apikey.NewService(apikey.Config{}, store.NewAPIKeys(h.db), store.NewAccounts(h.db), h.outbox, quiet)
	keys.DenyLocally(h.deny)
	ns := store.NewNotMe(h.db)
	if err := ns.EnsureIndexes(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.svc.EnableNotMe(auth.NotMeDeps{
		Config: auth.NotMeConfig{LinkURL: notMePage}, Store: ns, Reader: f, Marker: f, Keys: keys,
		Sessions: sessionclient.New(h.sessions.srv.URL, internalToken, nil),
	})
	return f
}

// signInNewDevice signs email in from deviceID (a new device: answered with the code sent) and
// returns the session's access token and id.
func (h *harness) signInNewDevice(t *testing.T, email, deviceID string) (token, sid string) {
	t.Helper()
	dvt, code := h.challenge(t, email, deviceID)
	r := h.do(t, request{path: "/api/v1/account/device/verify", body: jsonBody(t, verifyBody(dvt, code, deviceID))})
	if r.status != http.StatusOK || r.str("data.accessToken") == "" {
		t.Fatalf("device verify = %d %s", r.status, r.raw)
	}
	return r.str("data.accessToken"), r.str("data.sessionId")
}

// createKeyIn creates an API key through the endpoint in the token's session and returns its secret.
func (h *harness) createKeyIn(t *testing.T, token, name string) string {
	t.Helper()
	sub, sid := tokenSubject(t, token)
	status, _, out := keyCall(t, h.app, "POST", "/api/v1/auth/api-keys", jsonBody(t, map[string]any{"name": name, "scopes": []string{"read", "write"}}),
		"Authorization", "Bearer "+token, "X-Reauth-Token", h.mintStepUp(t, sub, sid, auth.MethodOTP, time.Minute))
	key, _ := keyObj(out)["key"].(string)
	if status != http.StatusCreated || key == "" {
		t.Fatalf("create api key = %d %v", status, out)
	}
	return key
}

func notMePath(id string) string { return "/api/v1/account/activity/" + id + "/not-me" }

// reportNotMe reports entry id with token and a step-up token of its session (the proof the path needs).
func (h *harness) reportNotMe(t *testing.T, token, id string) response {
	t.Helper()
	sub, sid := tokenSubject(t, token)
	return h.withHeader(t, http.MethodPost, notMePath(id), token, map[string]string{"X-Reauth-Token": h.mintStepUp(t, sub, sid, auth.MethodOTP, time.Minute)})
}

func TestNotMeReportEndsSessionForgetsDeviceRevokesKeys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	log := enableNotMe(t, h)
	ada := h.signUp(t, "ada@example.com")
	bob := h.signUp(t, "bob@example.com")
	attackerToken, attackerSID := h.signInNewDevice(t, ada.email, "attacker-phone")
	evilKey := h.createKeyIn(t, attackerToken, "evil")
	ownKey := h.createKeyIn(t, ada.token, "mine")
	anyKey, _ := h.issueKey(t, ada.id)

	now := time.Now().UTC()
	entry := func(id, accountID string, a events.Activity) activity.Entry {
		return activity.Entry{ID: id, AccountID: accountID, OccurredAt: now, Activity: a}
	}
	log.add(entry("e-signin", ada.id, events.Activity{Kind: events.ActivitySignIn, Outcome: events.OutcomeSucceeded,
		SessionID: attackerSID, DeviceID: "attacker-phone", DeviceName: "iPhone 15 Pro", IPAddress: "203.0.113.9"}))
	log.add(entry("e-failed", ada.id, events.Activity{Kind: events.ActivitySignIn, Outcome: events.OutcomeFailed, Reason: "wrong_password", DeviceID: "attacker-phone"}))
	log.add(entry("e-ended", ada.id, events.Activity{Kind: events.ActivitySessionEnded, SessionID: attackerSID}))
	log.add(entry("e-admin", ada.id, events.Activity{Kind: events.ActivityPasswordChanged, SessionID: attackerSID, Actor: events.Actor{Type: events.ActorAdmin, ID: "op"}}))
	log.add(entry("e-bob", bob.id, events.Activity{Kind: events.ActivitySignIn, Outcome: events.OutcomeSucceeded, SessionID: bob.sid, DeviceID: "laptop"}))

	refusals := []struct {
		name, token, id string
		status          int
		message         string
	}{
		{"api key", anyKey, "e-signin", http.StatusForbidden, ""},
		{"no step-up", ada.token, "e-signin", http.StatusUnauthorized, "Re-authentication required"},
		{"another account's entry", ada.token, "e-bob", http.StatusNotFound, "Activity entry not found"},
		{"unknown entry", ada.token, "nope", http.StatusNotFound, "Activity entry not found"},
		{"failed sign-in", ada.token, "e-failed", http.StatusUnprocessableEntity, ""},
		{"session ended", ada.token, "e-ended", http.StatusUnprocessableEntity, ""},
		{"operator's change", ada.token, "e-admin", http.StatusUnprocessableEntity, ""},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.token == anyKey || tc.status == http.StatusUnauthorized {
				r = h.authed(t, http.MethodPost, notMePath(tc.id), tc.token, nil) // no step-up
			} else {
				r = h.reportNotMe(t, tc.token, tc.id)
			}
			if r.status != tc.status || r.at("success") != false {
				t.Fatalf("answer = %d %s, want a %d envelope", r.status, r.raw, tc.status)
			}
			if tc.message != "" && r.str("message") != tc.message {
				t.Errorf("message = %q, want %q", r.str("message"), tc.message)
			}
		})
	}
	if live := h.sessions.liveSessions(ada.id); !live[attackerSID] {
		t.Fatal("a refused report ended the session")
	}
	if !h.sessions.liveSessions(bob.id)[bob.sid] {
		t.Fatal("another account's entry ended its session")
	}

	r := h.reportNotMe(t, ada.token, "e-signin")
	if r.status != http.StatusOK || r.at("success") != true {
		t.Fatalf("report = %d %s, want 200", r.status, r.raw)
	}
	want := map[string]any{"data.sessionEnded": true, "data.deviceForgotten": true, "data.apiKeysRevoked": float64(1), "data.passwordResetRequired": true}
	for path, v := range want {
		if got := r.at(path); got != v {
			t.Errorf("%s = %v, want %v (%s)", path, got, v, r.raw)
		}
	}
	live := h.sessions.liveSessions(ada.id)
	if live[attackerSID] || !live[ada.sid] {
		t.Errorf("live sessions %v: want the reported one ended and the owner's kept", live)
	}
	devices := store.NewDevices(h.db)
	if _, err := devices.Find(context.Background(), ada.id, "attacker-phone"); !errors.Is(err, device.ErrNotFound) {
		t.Errorf("reported device: err %v, want it no longer trusted", err)
	}
	if _, err := devices.Find(context.Background(), ada.id, "laptop"); err != nil {
		t.Errorf("owner's device: %v, want it still trusted", err)
	}
	if h.keyWorks(t, evilKey) {
		t.Error("the key created in the reported session still works")
	}
	if !h.keyWorks(t, ownKey) || !h.keyWorks(t, anyKey) {
		t.Error("a key created in another session (or outside any) was revoked")
	}
	if log.markedAt("e-signin").IsZero() {
		t.Error("the entry was not marked as reported")
	}
	if n := countAlerts(h.securityAlerts(t, ada.id), events.AlertNotMeReported); n != 1 {
		t.Errorf("%d not_me_reported alerts, want 1", n)
	}
	if !notMeActivityQueued(t, h, ada.id, "e-signin") {
		t.Error("no not_me activity with the entry id was queued")
	}

	// Reporting again answers the same and alerts no more.
	again := h.reportNotMe(t, ada.token, "e-signin")
	if again.status != http.StatusOK || mustJSON(again.at("data")) != mustJSON(r.at("data")) {
		t.Errorf("second report = %d %s, want 200 with %s", again.status, again.raw, mustJSON(r.at("data")))
	}
	if n := countAlerts(h.securityAlerts(t, ada.id), events.AlertNotMeReported); n != 1 {
		t.Errorf("%d not_me_reported alerts after a second report, want 1", n)
	}

	// Password login is refused — only with the right password — until a reset.
	wantPlainError(t, h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")), http.StatusForbidden,
		"A password reset is required for this account; use forgot password")
	wantPlainError(t, h.post(t, "/api/v1/auth/login", login(ada.email, "Wrong-Password-1", "laptop")), http.StatusUnauthorized, "Invalid credentials")
	h.post(t, "/api/v1/auth/forgot-password", map[string]any{"email": ada.email}).wantStatus(t, http.StatusAccepted, "forgot")
	h.post(t, "/api/v1/auth/reset-password", map[string]any{"email": ada.email, "otp_code": h.lastCode(t, ada.email), "new_password": "Quiet-Harbor-77"}).
		wantStatus(t, http.StatusOK, "reset")
	if r := h.post(t, "/api/v1/auth/login", login(ada.email, "Quiet-Harbor-77", "laptop")); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("login after the reset = %d %s, want tokens", r.status, r.raw)
	}
	// The forgotten device needs verification again.
	if r := h.post(t, "/api/v1/auth/login", login(ada.email, "Quiet-Harbor-77", "attacker-phone")); r.str("challenge") != "device_verification" {
		t.Errorf("login from the forgotten device = %d %s, want a device challenge", r.status, r.raw)
	}
}

// TestNotMeReportOfOwnSession: reporting the caller's own session ends it; the answer still goes out.
func TestNotMeReportOfOwnSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	log := enableNotMe(t, h)
	ada := h.signUp(t, "ada@example.com")
	log.add(activity.Entry{ID: "e-own", AccountID: ada.id, OccurredAt: time.Now(), Activity: events.Activity{
		Kind: events.ActivityPasswordChanged, SessionID: ada.sid, Actor: events.Actor{Type: events.ActorOwner}}})
	r := h.reportNotMe(t, ada.token, "e-own")
	if r.status != http.StatusOK || r.at("data.sessionEnded") != true {
		t.Fatalf("report = %d %s, want 200 with the session ended", r.status, r.raw)
	}
	if h.sessions.liveSessions(ada.id)[ada.sid] {
		t.Error("the caller's own (reported) session was not ended")
	}
}

func TestNotMeLinkSingleUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	enableNotMe(t, h)
	ada := h.signUp(t, "ada@example.com")
	_, attackerSID := h.signInNewDevice(t, ada.email, "attacker-phone")

	link := notMeLinkOf(t, h, ada.id, events.AlertNewDeviceSignIn)
	token := strings.TrimPrefix(link, notMePage+"#token=")
	if !strings.HasPrefix(token, auth.NotMeTokenPrefix) {
		t.Fatalf("link %q, want %s#token=nmt_...", link, notMePage)
	}
	wantPlainError(t, h.post(t, "/api/v1/auth/not-me", map[string]any{"token": "nmt_forged"}), http.StatusBadRequest, "Invalid or expired link")
	wantPlainError(t, h.post(t, "/api/v1/auth/not-me", map[string]any{}), http.StatusUnprocessableEntity, "token")

	// Two parallel uses: exactly one wins.
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	bodies := make([]response, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = h.post(t, "/api/v1/auth/not-me", map[string]any{"token": token})
			statuses[i] = bodies[i].status
		}()
	}
	wg.Wait()
	ok, bad := 0, 0
	for i, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
			if bodies[i].at("session_ended") != true || bodies[i].at("device_forgotten") != true || bodies[i].at("password_reset_required") != true {
				t.Errorf("winning answer %s, want the session ended, the device forgotten and a reset required", bodies[i].raw)
			}
		case http.StatusBadRequest:
			bad++
		}
	}
	if ok != 1 || bad != 1 {
		t.Fatalf("statuses %v, want one 200 and one 400", statuses)
	}
	if h.sessions.liveSessions(ada.id)[attackerSID] || !h.sessions.liveSessions(ada.id)[ada.sid] {
		t.Error("want the new device's session ended and the owner's kept")
	}
	if _, err := store.NewDevices(h.db).Find(context.Background(), ada.id, "attacker-phone"); !errors.Is(err, device.ErrNotFound) {
		t.Errorf("reported device: err %v, want it no longer trusted", err)
	}
	wantPlainError(t, h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")), http.StatusForbidden,
		"A password reset is required for this account; use forgot password")
	if n := countAlerts(h.securityAlerts(t, ada.id), events.AlertNotMeReported); n != 1 {
		t.Errorf("%d not_me_reported alerts, want 1", n)
	}
	// Used: refused from now on.
	wantPlainError(t, h.post(t, "/api/v1/auth/not-me", map[string]any{"token": token}), http.StatusBadRequest, "Invalid or expired link")
}

// TestNotMeLinkOfSessionChange: a change made in a session alerts with a link that ends that session.
func TestNotMeLinkOfSessionChange(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	enableNotMe(t, h)
	ada := h.signUp(t, "ada@example.com")
	attackerToken, attackerSID := h.signInNewDevice(t, ada.email, "attacker-phone")
	r := h.authed(t, http.MethodPost, "/api/v1/auth/change-password", attackerToken,
		map[string]any{"current_password": goodPassword, "new_password": "Stolen-Castle-42"})
	if r.status != http.StatusOK {
		t.Fatalf("change password = %d %s", r.status, r.raw)
	}
	link := notMeLinkOf(t, h, ada.id, events.AlertPasswordChanged)
	res := h.post(t, "/api/v1/auth/not-me", map[string]any{"token": strings.TrimPrefix(link, notMePage+"#token=")})
	if res.status != http.StatusOK || res.at("session_ended") != true {
		t.Fatalf("link = %d %s, want 200 with the session ended", res.status, res.raw)
	}
	if h.sessions.liveSessions(ada.id)[attackerSID] {
		t.Error("the session the change was made in still lives")
	}
}

// TestNotMeLinkOfGoneAccount: a link whose account no longer exists is refused and touches nothing;
// a link only ever acts on its own account.
func TestNotMeLinkOfGoneAccount(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	enableNotMe(t, h)
	ada := h.signUp(t, "ada@example.com")
	bob := h.signUp(t, "bob@example.com")
	h.signInNewDevice(t, ada.email, "phone")
	h.signInNewDevice(t, bob.email, "phone")
	adaLink := notMeLinkOf(t, h, ada.id, events.AlertNewDeviceSignIn)
	bobLink := notMeLinkOf(t, h, bob.id, events.AlertNewDeviceSignIn)
	if _, err := h.db.Collection(store.CollAccounts).DeleteOne(context.Background(), bson.D{{Key: "_id", Value: bob.id}}); err != nil {
		t.Fatal(err)
	}
	wantPlainError(t, h.post(t, "/api/v1/auth/not-me", map[string]any{"token": strings.TrimPrefix(bobLink, notMePage+"#token=")}),
		http.StatusBadRequest, "Invalid or expired link")
	h.post(t, "/api/v1/auth/not-me", map[string]any{"token": strings.TrimPrefix(adaLink, notMePage+"#token=")}).wantStatus(t, http.StatusOK, "ada's link")
	if !h.sessions.liveSessions(bob.id)[bob.sid] {
		t.Error("a link of one account ended another account's session")
	}
}

// TestNotMeOffWithoutURL: without NOT_ME_URL alerts carry no link.
func TestNotMeOffWithoutURL(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.svc.EnableNotMe(auth.NotMeDeps{Store: store.NewNotMe(h.db)})
	ada := h.signUp(t, "ada@example.com")
	h.signInNewDevice(t, ada.email, "phone")
	for _, a := range h.securityAlerts(t, ada.id) {
		if a.Details["notMeUrl"] != "" {
			t.Errorf("alert %s carries %q without NOT_ME_URL", a.Kind, a.Details["notMeUrl"])
		}
	}
}

// notMeLinkOf returns the notMeUrl of the account's latest alert of kind.
func notMeLinkOf(t *testing.T, h *harness, accountID, kind string) string {
	t.Helper()
	link := ""
	for _, a := range h.securityAlerts(t, accountID) {
		if a.Kind == kind && a.Details["notMeUrl"] != "" {
			link = a.Details["notMeUrl"]
		}
	}
	if link == "" {
		t.Fatalf("no %s alert with a notMeUrl for %s", kind, accountID)
	}
	return link
}

func notMeActivityQueued(t *testing.T, h *harness, accountID, entryID string) bool {
	t.Helper()
	for _, ev := range h.queued(t, events.TopicActivity) {
		var a events.Activity
		if ev.AccountID == accountID && ev.Decode(&a) == nil && a.Kind == events.ActivityNotMe && a.Details["entryId"] == entryID {
			return true
		}
	}
	return false
}

// TestNotMeLinkOfAPIKeyCreated: the api_key_created alert of a key made in a session carries a link;
// using it revokes that key (created in the session) and ends the session.
func TestNotMeLinkOfAPIKeyCreated(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	enableNotMe(t, h)
	ada := h.signUp(t, "ada@example.com")
	attackerToken, attackerSID := h.signInNewDevice(t, ada.email, "attacker-phone")
	sub, _ := tokenSubject(t, attackerToken)
	keys := apikey.NewService(apikey.Config{}, store.NewAPIKeys(h.db), store.NewAccounts(h.db), h.outbox, quiet)
	keys.DenyLocally(h.deny)
	keys.SetAlertLinks(h.svc)
	ctx := authn.WithPrincipal(context.Background(), authn.Principal{AccountID: sub, SessionID: attackerSID})
	created, err := keys.Create(ctx, ada.id, apikey.NewKey{Name: "evil", Scopes: authn.ScopeRead, CreatedInSession: attackerSID})
	if err != nil {
		t.Fatal(err)
	}
	// A key made with another key (no session) gets no link.
	keyCtx := authn.WithPrincipal(context.Background(), authn.Principal{AccountID: ada.id, APIKeyID: created.Key.ID})
	if _, err := keys.Create(keyCtx, ada.id, apikey.NewKey{Name: "by-key", Scopes: authn.ScopeRead}); err != nil {
		t.Fatal(err)
	}
	links := 0
	for _, a := range h.securityAlerts(t, ada.id) {
		if a.Kind == events.AlertAPIKeyCreated && a.Details["notMeUrl"] != "" {
			links++
		}
	}
	if links != 1 {
		t.Fatalf("%d api_key_created alerts with a link, want 1 (the key made in a session)", links)
	}
	link := notMeLinkOf(t, h, ada.id, events.AlertAPIKeyCreated)
	r := h.post(t, "/api/v1/auth/not-me", map[string]any{"token": strings.TrimPrefix(link, notMePage+"#token=")})
	if r.status != http.StatusOK || r.at("api_keys_revoked") != float64(1) || r.at("session_ended") != true {
		t.Fatalf("link = %d %s, want the session ended and its key revoked", r.status, r.raw)
	}
	if h.keyWorks(t, created.Secret) {
		t.Error("the key made in the reported session still works")
	}
}

// TestNotMeReportTwiceAtOnce: two parallel reports of one entry both answer 200 with one result, and
// the owner is alerted once.
func TestNotMeReportTwiceAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	log := enableNotMe(t, h)
	ada := h.signUp(t, "ada@example.com")
	_, attackerSID := h.signInNewDevice(t, ada.email, "attacker-phone")
	log.add(activity.Entry{ID: "e-1", AccountID: ada.id, OccurredAt: time.Now(), Activity: events.Activity{
		Kind: events.ActivitySignIn, SessionID: attackerSID, DeviceID: "attacker-phone"}})
	var wg sync.WaitGroup
	answers := make([]response, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = h.reportNotMe(t, ada.token, "e-1")
		}()
	}
	wg.Wait()
	for _, r := range answers {
		if r.status != http.StatusOK || r.at("data.sessionEnded") != true || r.at("data.passwordResetRequired") != true {
			t.Errorf("answer %d %s, want 200 with the session ended", r.status, r.raw)
		}
	}
	if n := countAlerts(h.securityAlerts(t, ada.id), events.AlertNotMeReported); n != 1 {
		t.Errorf("%d not_me_reported alerts, want 1", n)
	}
}
