package authn_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
)

// TestDenyListAllKeysRevokedBefore: an api_key.revoked for every key of an account (a password reset,
// a deactivation, a sign-out everywhere) refuses the keys created until the event, not the ones the
// owner creates afterwards, nor another account's.
func TestDenyListAllKeysRevokedBefore(t *testing.T) {
	d := authn.NewDenyList()
	at := time.Now().Add(-time.Second).UTC()
	ev, err := events.New(events.TypeAPIKeyRevoked, "acc-1", events.APIKeyRevoked{AllKeys: true, Reason: "password_reset"})
	if err != nil {
		t.Fatal(err)
	}
	ev.OccurredAt = at
	d.Apply(context.Background(), ev, slog.New(slog.DiscardHandler))
	tests := []struct {
		name    string
		account string
		created time.Time
		want    bool
	}{
		{"created before", "acc-1", at.Add(-time.Hour), true},
		{"created at the event", "acc-1", at, true},
		{"creation unknown", "acc-1", time.Time{}, true},
		{"created after", "acc-1", at.Add(time.Millisecond), false},
		{"another account", "acc-2", at.Add(-time.Hour), false},
	}
	for _, tc := range tests {
		if got := d.APIKeyDenied("key-x", tc.account, tc.created); got != tc.want {
			t.Errorf("%s: denied = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A deactivated account refuses every key, whenever created.
	d.DenyInactiveAccount("acc-1", 3, time.Now().Add(authn.APIKeyDenyWindow))
	if !d.APIKeyDenied("key-x", "acc-1", time.Now()) {
		t.Error("a key created after the revocation of an inactive account is accepted")
	}
}
