package profile_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
)

// failingOutbox refuses every event, as the outbox does while MongoDB is briefly unreachable.
type failingOutbox struct{}

func (failingOutbox) Add(context.Context, string, events.Envelope) error {
	return errors.New("outbox unreachable")
}

// phoneDesk stands in for identity's phone API in these unit tests only (the journey tests use the
// real identity service): it records the number unverified and bumps the account version.
type phoneDesk struct {
	mu      sync.Mutex
	version int64
	calls   int
	err     error
	ip      string // client IP of the last call
}

func (d *phoneDesk) SetPhone(_ context.Context, _ string, phone, clientIP string) (events.AccountSnapshot, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.ip = clientIP
	if d.err != nil {
		return events.AccountSnapshot{}, d.err
	}
	d.version++
	return events.AccountSnapshot{Version: d.version, Email: "jane@example.com", EmailVerified: true, PhoneNumber: phone, Username: "jane", Status: events.AccountStatusActive}, nil
}

func ptr(s string) *string { return &s }

func TestUpdatePublishesSnapshotsThroughTheOutbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := testenv.New(t)
	db := env.Database("profile")
	profiles := store.NewProfiles(db)
	if err := profiles.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	outbox := kafkax.NewOutbox(db, nil, nil) // never relayed here: the test reads the outbox collection
	svc := profile.NewService(profiles, profile.Options{Outbox: outbox})

	if err := svc.ApplyAccountCreated(ctx, created("ev-1", "acc-1")); err != nil {
		t.Fatal(err)
	}
	p, err := svc.Update(ctx, "acc-1", profile.Changes{DisplayName: ptr("Jane D."), Bio: ptr("hello")})
	if err != nil {
		t.Fatal(err)
	}
	// Only the bio changes: nothing identity shows, so no new snapshot.
	if _, err := svc.Update(ctx, "acc-1", profile.Changes{Bio: ptr("hello again")}); err != nil {
		t.Fatal(err)
	}

	n, err := db.Collection(kafkax.OutboxCollection).CountDocuments(ctx, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("outbox holds %d events, want 2 (account.created names, display name)", n)
	}
	got, _ := profiles.Find(ctx, "acc-1")
	if got.SnapshotPending {
		t.Error("snapshot still marked pending after it was queued")
	}
	if snap := p.Snapshot(); snap.DisplayName != "Jane D." || !snap.OnboardingComplete || snap.FirstName != "Jane" || snap.Version != p.Version {
		t.Errorf("snapshot = %+v", snap)
	}
}

func TestRepublishQueuesWhatTheRequestCouldNot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := testenv.New(t)
	db := env.Database("profile")
	profiles := store.NewProfiles(db)
	if err := profiles.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	broken := profile.NewService(profiles, profile.Options{Outbox: failingOutbox{}})
	if _, err := broken.Update(ctx, "acc-1", profile.Changes{FirstName: ptr("Jane")}); err != nil {
		t.Fatalf("an outbox failure must not fail the edit: %v", err)
	}
	got, _ := profiles.Find(ctx, "acc-1")
	if !got.SnapshotPending {
		t.Fatal("snapshot not marked pending")
	}
	outbox := kafkax.NewOutbox(db, nil, nil)
	fixed := profile.NewService(profiles, profile.Options{Outbox: outbox, Now: func() time.Time { return time.Now().Add(time.Hour) }})
	n, err := fixed.RepublishPending(ctx, time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("RepublishPending = %d, %v; want 1", n, err)
	}
	if got, _ := profiles.Find(ctx, "acc-1"); got.SnapshotPending {
		t.Error("still pending after the republisher queued it")
	}
}

func TestApplyAccountSnapshotKeepsTheHighestVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t, time.Second)
	snap := func(v int64, phone string, verified bool) events.AccountSnapshot {
		return events.AccountSnapshot{Version: v, Email: "jane@example.com", EmailVerified: true, PhoneNumber: phone, PhoneVerified: verified, Username: "jane", Status: events.AccountStatusActive}
	}
	for _, sn := range []events.AccountSnapshot{snap(2, "+254712345678", true), snap(1, "", false), snap(2, "+19999999999", false)} {
		if err := svc.ApplyAccountSnapshot(ctx, "acc-1", sn); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Find(ctx, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountVersion != 2 || got.Phone != "+254712345678" || !got.PhoneVerified || !got.EmailVerified || got.Username != "jane" {
		t.Errorf("profile = %+v, want version 2's facts", got)
	}
	// A late account.created does not undo a newer snapshot's e-mail or username.
	ev := created("ev-old", "acc-1")
	ev.Email, ev.Username = "old@example.com", "old"
	if err := svc.ApplyAccountCreated(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Find(ctx, "acc-1"); got.Email != "jane@example.com" || got.Username != "jane" || got.FirstName != "Jane" {
		t.Errorf("after a late account.created: %+v", got)
	}
}

func TestUpdatePhoneGoesThroughIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := testenv.New(t)
	profiles := store.NewProfiles(env.Database("profile"))
	desk := &phoneDesk{version: 5}
	svc := profile.NewService(profiles, profile.Options{Phones: desk})

	p, err := svc.Update(ctx, "acc-1", profile.Changes{Phone: ptr("+14155550123"), CountryCode: ptr("+1"), ClientIP: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	if desk.ip != "203.0.113.9" {
		t.Errorf("identity was given client IP %q, want the caller's", desk.ip)
	}
	if p.Phone != "+14155550123" || p.PhoneVerified || p.AccountVersion != 6 || p.CountryCode != "+1" {
		t.Errorf("after the change: %+v", p)
	}
	// The same number again is no change for identity.
	if _, err := svc.Update(ctx, "acc-1", profile.Changes{Phone: ptr("+14155550123")}); err != nil {
		t.Fatal(err)
	}
	if desk.calls != 1 {
		t.Errorf("identity called %d times, want 1", desk.calls)
	}
	desk.err = &profile.PhoneChangesThrottledError{RetryAfter: time.Minute}
	var throttled *profile.PhoneChangesThrottledError
	if _, err := svc.Update(ctx, "acc-1", profile.Changes{Phone: ptr("+14155550199"), DisplayName: ptr("x")}); !errors.As(err, &throttled) {
		t.Errorf("throttled change: err = %v, want PhoneChangesThrottledError", err)
	}
	if got, _ := profiles.Find(ctx, "acc-1"); got.DisplayName != "" || got.Phone != "+14155550123" {
		t.Errorf("a refused edit changed the profile: %+v", got)
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	t.Run("locale", func(t *testing.T) {
		for in, want := range map[string]string{"en": "en", "pt-br": "pt-BR", "zh-hant-tw": "zh-Hant-TW", "es-419": "es-419", "de-CH-1996": "de-CH-1996"} {
			if got, ok := profile.NormalizeLocale(in); !ok || got != want {
				t.Errorf("NormalizeLocale(%q) = %q, %v; want %q", in, got, ok, want)
			}
		}
		for _, bad := range []string{"", "e", "english", "en_US", "en-", "-en", "en-US-", "12", "en US", "x-private"} {
			if _, ok := profile.NormalizeLocale(bad); ok {
				t.Errorf("NormalizeLocale(%q) accepted", bad)
			}
		}
	})
	t.Run("timezone", func(t *testing.T) {
		for _, good := range []string{"UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Africa/Nairobi"} {
			if !profile.ValidTimezone(good) {
				t.Errorf("ValidTimezone(%q) = false", good)
			}
		}
		for _, bad := range []string{"", "Local", "Mars/Olympus", "../etc/passwd", "/etc/localtime", "Europe/Berlin ", "GMT+25"} {
			if profile.ValidTimezone(bad) {
				t.Errorf("ValidTimezone(%q) = true", bad)
			}
		}
	})

	t.Run("avatar URL", func(t *testing.T) {
		for url, want := range map[string]bool{
			"https://cdn.example.com/a.jpg": true, "http://localhost:8080/a.png": true,
			"http://cdn.example.com/a.jpg": false, "javascript:alert(1)": false, "https://user:pw@x.io/a": false, "/a.jpg": false,
		} {
			if got := profile.ValidAvatarURL(url); got != want {
				t.Errorf("ValidAvatarURL(%q) = %v, want %v", url, got, want)
			}
		}
	})
}
