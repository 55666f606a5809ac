package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
)

func TestListUpdateTouch(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	sessions := store.NewSessions(env.Database("session"))
	ctx := context.Background()
	if err := sessions.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := newSession("s-old", "acc-1", now.Add(-30*time.Minute))     // less recently active
	recent := newSession("s-recent", "acc-1", now)                    // most recently active
	ended := newSession("s-ended", "acc-1", now.Add(-70*time.Minute)) // expired 10 minutes ago
	revoked := newSession("s-revoked", "acc-1", now)
	theirs := newSession("s-theirs", "acc-2", now)
	for _, s := range []session.Session{old, recent, ended, revoked, theirs} {
		if err := sessions.Insert(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sessions.Revoke(ctx, "s-revoked", "acc-1", "logout", now); err != nil {
		t.Fatal(err)
	}

	ids := func(list []session.Session) []string {
		out := make([]string, len(list))
		for i, s := range list {
			out[i] = s.ID
		}
		return out
	}
	tests := []struct {
		name       string
		account    string
		endedAfter time.Time
		want       []string
	}{
		{"live sessions, most recently active first", "acc-1", now, []string{"s-recent", "s-old"}},
		{"with those ended in the last 15 minutes", "acc-1", now.Add(-15 * time.Minute), []string{"s-recent", "s-old", "s-ended"}},
		{"another account", "acc-2", now, []string{"s-theirs"}},
		{"unknown account", "acc-3", now, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := sessions.ListUnrevoked(ctx, tc.account, tc.endedAfter)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(list); len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Fatalf("ListUnrevoked = %v, want %v", got, tc.want)
			}
			for _, s := range list {
				if s.RefreshHash != "" {
					t.Errorf("listing carries the refresh-token hash of %s", s.ID)
				}
			}
		})
	}

	t.Run("update device", func(t *testing.T) {
		dev := session.Session{UserAgent: "ua/2", Browser: "Safari 17.5", OS: "iOS 17.5", DeviceName: "Ada's iPhone", Location: "Nairobi, KE"}
		got, err := sessions.UpdateDevice(ctx, "s-recent", "acc-1", dev, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.DeviceName != "Ada's iPhone" || got.Location != "Nairobi, KE" || got.UserAgent != "ua/2" || got.OS != "iOS 17.5" || got.Platform != recent.Platform {
			t.Errorf("updated = %+v", got)
		}
		for _, tc := range []struct{ name, id, account string }{
			{"another account's session", "s-theirs", "acc-1"},
			{"a revoked session", "s-revoked", "acc-1"},
			{"an expired session", "s-ended", "acc-1"},
		} {
			if _, err := sessions.UpdateDevice(ctx, tc.id, tc.account, dev, now); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("%s: err = %v, want ErrNotFound", tc.name, err)
			}
		}
	})

	t.Run("touch writes only a stale lastActiveAt", func(t *testing.T) {
		later := now.Add(time.Minute)
		if wrote, err := sessions.Touch(ctx, "s-old", later, later.Add(-5*time.Minute)); err != nil || !wrote {
			t.Fatalf("touch of a stale session: wrote=%v err=%v, want a write", wrote, err)
		}
		if wrote, err := sessions.Touch(ctx, "s-old", later.Add(time.Second), later.Add(-5*time.Minute)); err != nil || wrote {
			t.Errorf("touch of a fresh session: wrote=%v err=%v, want none", wrote, err)
		}
		if wrote, err := sessions.Touch(ctx, "s-revoked", later, later); err != nil || wrote {
			t.Errorf("touch of a revoked session: wrote=%v err=%v, want none", wrote, err)
		}
		got, err := sessions.Get(ctx, "s-old")
		if err != nil || !got.LastActiveAt.Equal(later) {
			t.Errorf("lastActiveAt = %s (%v), want %s", got.LastActiveAt, err, later)
		}
	})
}
