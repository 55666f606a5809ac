package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/apispec/apispectest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

// withHeader sends a request with extra headers (the harness's do sends none).
func (h *harness) withHeader(t *testing.T, method, path, token string, header map[string]string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("X-Forwarded-For", "198.51.100.7")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := h.app.Test(req, 10_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	apispectest.Check(t, req, nil, resp.StatusCode, resp.Header, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return out
}

func TestScheduleAndCancelDeletion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ada := h.signUp(t, "deletion-owner@example.com")
	key, _ := h.issueKey(t, ada.id)

	// Without a step-up, with an API key: refused, nothing scheduled.
	if r := h.withHeader(t, "DELETE", "/api/v1/account", ada.token, nil); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("DELETE without step-up = %d %s, want 401 with a step-up challenge", r.status, r.raw)
	}
	if r := h.withHeader(t, "DELETE", "/api/v1/account", key, nil); r.status != http.StatusForbidden {
		t.Fatalf("DELETE with an API key = %d %s, want 403", r.status, r.raw)
	}
	if r := h.authed(t, "GET", "/api/v1/account/deletion", ada.token, nil); r.status != http.StatusOK || r.at("data.scheduled") != false {
		t.Fatalf("deletion status before = %d %s, want scheduled false", r.status, r.raw)
	}

	before := time.Now()
	r := h.withHeader(t, "DELETE", "/api/v1/account", ada.token, map[string]string{"X-Reauth-Token": h.mintStepUp(t, ada.id, ada.sid, auth.MethodPassword, time.Minute)})
	if r.status != http.StatusAccepted {
		t.Fatalf("DELETE with step-up = %d %s, want 202", r.status, r.raw)
	}
	deleteAt, err := time.Parse(time.RFC3339, r.str("data.deleteAt"))
	if err != nil || deleteAt.Before(before.Add(time.Hour-time.Second)) || deleteAt.After(time.Now().Add(time.Hour)) {
		t.Fatalf("deleteAt = %q (%v), want now + the 1h grace", r.str("data.deleteAt"), err)
	}
	revoked := false
	for _, c := range h.sessions.revokeCalls() {
		revoked = revoked || (c.AccountID == ada.id && c.ExceptSessionID == "" && c.Reason == auth.ReasonDeletionScheduled)
	}
	if !revoked {
		t.Errorf("no revocation of every session: %+v", h.sessions.revokeCalls())
	}
	if h.keyWorks(t, key) {
		t.Error("the API key still works after the deletion was scheduled")
	}
	if !h.hasAlert(t, ada.id, events.AlertAccountDeletionScheduled) {
		t.Error("no account_deletion_scheduled alert")
	}
	if !hasActivity(h.queued(t, events.TopicActivity), ada.id, events.ActivityDeletionScheduled) {
		t.Error("no deletion_scheduled activity")
	}

	// Signing in still works during the grace period; a second request changes nothing.
	token, sid := h.signIn(t, ada.email, goodPassword)
	if r := h.withHeader(t, "DELETE", "/api/v1/account", token, map[string]string{"X-Reauth-Token": h.mintStepUp(t, ada.id, sid, auth.MethodPassword, time.Minute)}); r.status != http.StatusConflict {
		t.Fatalf("second DELETE = %d %s, want 409", r.status, r.raw)
	}
	r = h.authed(t, "GET", "/api/v1/account/deletion", token, nil)
	if r.at("data.scheduled") != true || r.str("data.deleteAt") != deleteAt.UTC().Format(time.RFC3339) {
		t.Fatalf("deletion status = %s, want scheduled at %s", r.raw, deleteAt)
	}
	if r := h.authed(t, "GET", "/api/v1/account/security-info", token, nil); r.str("data.deletionScheduledAt") == "" || r.str("data.deleteAt") != deleteAt.UTC().Format(time.RFC3339) {
		t.Fatalf("security-info = %s, want the scheduled deletion", r.raw)
	}

	// Cancelling: not with an API key, then by the signed-in owner; the owner is told.
	key2, _ := h.issueKey(t, ada.id)
	if r := h.authed(t, "POST", "/api/v1/account/deletion/cancel", key2, nil); r.status != http.StatusForbidden {
		t.Fatalf("cancel with an API key = %d %s, want 403", r.status, r.raw)
	}
	if r := h.authed(t, "POST", "/api/v1/account/deletion/cancel", token, nil); r.status != http.StatusOK || r.at("data.scheduled") != false {
		t.Fatalf("cancel = %d %s, want 200", r.status, r.raw)
	}
	if !h.hasAlert(t, ada.id, events.AlertAccountDeletionCancelled) {
		t.Error("no account_deletion_cancelled alert")
	}
	if r := h.authed(t, "GET", "/api/v1/account/deletion", token, nil); r.at("data.scheduled") != false {
		t.Fatalf("deletion status after cancel = %s", r.raw)
	}
	if r := h.authed(t, "GET", "/api/v1/account/security-info", token, nil); r.status != http.StatusOK || r.at("data.deletionScheduledAt") != nil {
		t.Fatalf("security-info after cancel = %d %s, want no deletion", r.status, r.raw)
	}
	if r := h.authed(t, "POST", "/api/v1/account/deletion/cancel", token, nil); r.status != http.StatusConflict {
		t.Fatalf("second cancel = %d %s, want 409", r.status, r.raw)
	}
	// Nothing is erased for a cancelled deletion, however late.
	n, err := h.svc.WithClock(func() time.Time { return time.Now().Add(48 * time.Hour) }).EraseDue(context.Background())
	if err != nil || n != 0 {
		t.Fatalf("EraseDue after cancel = %d, %v; want 0", n, err)
	}
}

func hasActivity(evs []events.Envelope, accountID, kind string) bool {
	for _, ev := range evs {
		var a events.Activity
		if ev.AccountID == accountID && ev.Decode(&a) == nil && a.Kind == kind {
			return true
		}
	}
	return false
}

// The worker, run by two replicas at once once the grace period is over: one account.deleted event
// with the account's addresses, no identity document left that holds the account id or e-mail, the
// username reserved for nobody, and sign-in answering as for an unknown account.
func TestDeletionWorkerErasesIdentityOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	ada := h.signUp(t, "Erase-Me@Example.com")
	email := "erase-me@example.com"
	bob := h.signUp(t, "keep-me@example.com")
	h.issueKey(t, ada.id)
	h.issueKey(t, bob.id)
	if ok, err := store.NewUsernames(h.db).SetUsername(ctx, ada.id, "", "erased_ada", time.Now(), time.Now()); err != nil || !ok {
		t.Fatalf("set username: %v %v", ok, err)
	}
	h.mintStepUp(t, ada.id, ada.sid, auth.MethodPassword, time.Minute)
	if _, err := h.svc.ScheduleDeletion(ctx, ada.id, events.Actor{Type: events.ActorAdmin, ID: bob.id}); err != nil {
		t.Fatal(err)
	}
	if n, err := h.svc.EraseDue(ctx); err != nil || n != 0 {
		t.Fatalf("EraseDue within the grace period = %d, %v; want 0", n, err)
	}
	byAdmin := false
	for _, ev := range h.queued(t, events.TopicActivity) {
		var a events.Activity
		byAdmin = byAdmin || (ev.AccountID == ada.id && ev.Decode(&a) == nil && a.Kind == events.ActivityDeletionScheduled &&
			a.Actor == events.Actor{Type: events.ActorAdmin, ID: bob.id} && a.Details["deleteAt"] != "")
	}
	if !byAdmin {
		t.Error("the deletion an operator scheduled is not in the activity log with the operator")
	}

	later := h.svc.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := later.EraseDue(ctx)
			if err != nil {
				t.Errorf("EraseDue: %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total < 1 {
		t.Fatalf("EraseDue erased %d accounts, want ada", total)
	}

	var deleted []events.AccountDeleted
	for _, ev := range outboxEvents(t, h.db, events.TopicAccountEvents) {
		if ev.Type == events.TypeAccountDeleted {
			var p events.AccountDeleted
			if err := ev.Decode(&p); err != nil || ev.AccountID != ada.id || ev.EventID != auth.DeletedEventID(ada.id) {
				t.Fatalf("account.deleted %+v: %v", ev, err)
			}
			deleted = append(deleted, p)
		}
	}
	if len(deleted) != 1 || len(deleted[0].Emails) != 1 || deleted[0].Emails[0] != email {
		t.Fatalf("account.deleted events = %+v, want one with %s", deleted, email)
	}

	// Every identity collection but the outbox (whose queued bodies the relay drops once sent).
	leftovers := scanDatabase(t, h.db, []string{ada.id, email}, kafkax.OutboxCollection)
	if len(leftovers) > 0 {
		t.Errorf("erased account still found:\n%s", strings.Join(leftovers, "\n"))
	}
	if found := scanDatabase(t, h.db, []string{bob.id}, kafkax.OutboxCollection); len(found) == 0 {
		t.Error("the other account's data went too")
	}

	holder, err := store.NewUsernames(h.db).ReservedFor(ctx, "erased_ada", time.Now())
	if err != nil || holder != store.ErasedUsernameHolder {
		t.Errorf("username reserved for %q (%v), want the anonymous holder", holder, err)
	}
	// The harness's reservation period is an hour, counted from the erasure (two hours from now).
	if holder, err := store.NewUsernames(h.db).ReservedFor(ctx, "erased_ada", time.Now().Add(3*time.Hour+time.Minute)); err != nil || holder != "" {
		t.Errorf("after the reservation period the username is held by %q (%v), want it free", holder, err)
	}
	if r := h.post(t, "/api/v1/auth/login", login(email, goodPassword, "laptop")); r.status != http.StatusUnauthorized {
		t.Errorf("login of the erased account = %d %s, want 401", r.status, r.raw)
	}
	if n, err := later.EraseDue(ctx); err != nil || n != 0 {
		t.Errorf("a second round = %d, %v; want nothing to do", n, err)
	}
}

// scanDatabase returns "collection: document" for every document of db (but those of skip) whose
// extended JSON contains one of needles, case-insensitively.
func scanDatabase(t *testing.T, db *mongo.Database, needles []string, skip ...string) []string {
	t.Helper()
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		if slices.Contains(skip, name) {
			continue
		}
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			js, err := bson.MarshalExtJSON(d, false, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range needles {
				if strings.Contains(strings.ToLower(string(js)), strings.ToLower(n)) {
					out = append(out, name+": "+string(js))
				}
			}
		}
	}
	return out
}

// An erasure that cannot end the account's sessions (session service away) leaves everything in
// place, account included, and is resumed by the next round; unknown accounts cannot be scheduled.
func TestDeletionWorkerResumesAfterAnOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.svc.ScheduleDeletion(ctx, "no-such-account", events.Actor{Type: events.ActorAdmin, ID: "op"}); !errors.Is(err, auth.ErrAccountGone) {
		t.Fatalf("ScheduleDeletion of an unknown account = %v, want ErrAccountGone", err)
	}
	ada := h.signUp(t, "outage-delete@example.com")
	if _, err := h.svc.ScheduleDeletion(ctx, ada.id, events.Actor{}); err != nil {
		t.Fatal(err)
	}
	later := h.svc.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) })

	h.sessions.setDown(true)
	if n, err := later.EraseDue(ctx); err == nil || n != 0 {
		t.Fatalf("EraseDue with the session service down = %d, %v; want an error and nothing erased", n, err)
	}
	if len(scanDatabase(t, h.db, []string{ada.id}, kafkax.OutboxCollection)) == 0 {
		t.Fatal("the account went although its sessions could not be ended")
	}
	if r := h.post(t, "/api/v1/auth/login", login(ada.email, goodPassword, "laptop")); r.status != http.StatusUnauthorized {
		t.Fatalf("login while the erasure is pending = %d %s, want 401", r.status, r.raw)
	}

	h.sessions.setDown(false)
	if n, err := later.EraseDue(ctx); err != nil || n != 1 {
		t.Fatalf("EraseDue after the outage = %d, %v; want the account erased", n, err)
	}
	if found := scanDatabase(t, h.db, []string{ada.id, ada.email}, kafkax.OutboxCollection); len(found) > 0 {
		t.Fatalf("left after the resumed erasure:\n%s", strings.Join(found, "\n"))
	}
}
