package profile_test

import (
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// is_active follows identity's account status: only ACTIVE (or no snapshot yet) is active.
func TestProfileActive(t *testing.T) {
	tests := []struct {
		status string
		want   bool
	}{
		{"", true},
		{events.AccountStatusActive, true},
		{events.AccountStatusDeactivated, false},
		{events.AccountStatusLocked, false},
		{"SUSPENDED", false}, // a status added later is not active either
	}
	for _, tc := range tests {
		t.Run("status "+tc.status, func(t *testing.T) {
			if got := (profile.Profile{AccountStatus: tc.status}).Active(); got != tc.want {
				t.Errorf("Active() = %v, want %v", got, tc.want)
			}
		})
	}
}
