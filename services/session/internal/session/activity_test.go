package session_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// activities returns the activity entries the service queued, decoded.
func (o *recordingOutbox) activities(t *testing.T) []events.Activity {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []events.Activity
	for i, ev := range o.events {
		if o.topics[i] != events.TopicActivity {
			continue
		}
		var a events.Activity
		if ev.Type != events.TypeActivity || ev.Decode(&a) != nil {
			t.Fatalf("activity event %+v is not an activity.recorded", ev)
		}
		out = append(out, a)
	}
	return out
}

// Every ended session is one session_ended entry of the owner's activity log, with the session's
// device and client, the reason, and who ended it: the owner for sign-outs and the owner's changes,
// the system for reuse detection, resets and the like.
func TestEndedSessionsAreInTheActivityLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		end       func(f fixture, s session.Issued) error
		wantActor string
		wantWhy   string
	}{
		{"logout", func(f fixture, s session.Issued) error {
			return f.svc.Logout(context.Background(), authn.Principal{AccountID: "acc-1", SessionID: s.Session.ID})
		}, events.ActorOwner, session.ReasonLogout},
		{"revoked from another session", func(f fixture, s session.Issued) error {
			return f.svc.Revoke(context.Background(), "acc-1", s.Session.ID, session.ReasonRevokedByOwner)
		}, events.ActorOwner, session.ReasonRevokedByOwner},
		{"password reset", func(f fixture, s session.Issued) error {
			_, err := f.svc.RevokeAll(context.Background(), "acc-1", "", "password_reset")
			return err
		}, events.ActorSystem, "password_reset"},
		{"refresh token reused", func(f fixture, s session.Issued) error {
			if _, err := f.svc.Refresh(context.Background(), s.RefreshToken, ""); err != nil {
				return err
			}
			_, _ = f.svc.Refresh(context.Background(), s.RefreshToken, "") // the spent token again
			return nil
		}, events.ActorSystem, session.ReasonRefreshTokenReused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, session.Options{})
			s, err := f.svc.Create(context.Background(), "acc-1", device, session.Assurance{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.end(f, s); err != nil {
				t.Fatal(err)
			}
			// Ending it again records nothing more.
			_ = f.svc.Revoke(context.Background(), "acc-1", s.Session.ID, session.ReasonSignOut)
			got := f.outbox.activities(t)
			if len(got) != 1 {
				t.Fatalf("%d activity entries, want 1: %+v", len(got), got)
			}
			a := got[0]
			if a.Kind != events.ActivitySessionEnded || a.SessionID != s.Session.ID || a.Reason != tc.wantWhy || a.Actor.Type != tc.wantActor {
				t.Errorf("entry = %+v, want session_ended of %s for %s by %s", a, s.Session.ID, tc.wantWhy, tc.wantActor)
			}
			if a.DeviceID != "dev-1" || a.DeviceName != "Pixel" || a.IPAddress != "203.0.113.7" || a.UserAgent != "app/1.0" {
				t.Errorf("entry = %+v, want the ended session's device and client", a)
			}
		})
	}
}
