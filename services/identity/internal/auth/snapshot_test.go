package auth_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// Other services act on the snapshot's status (API keys refused, profile shown inactive): a locked
// account must never reach them as active.
func TestSnapshotStatus(t *testing.T) {
	tests := []struct {
		status account.Status
		want   string
	}{
		{account.StatusActive, events.AccountStatusActive},
		{account.StatusDeactivated, events.AccountStatusDeactivated},
		{account.StatusLocked, events.AccountStatusLocked},
	}
	for _, tc := range tests {
		t.Run(string(tc.status), func(t *testing.T) {
			if got := auth.Snapshot(account.Account{ID: "acc-1", Status: tc.status}).Status; got != tc.want {
				t.Errorf("snapshot status = %q, want %q", got, tc.want)
			}
		})
	}
}
