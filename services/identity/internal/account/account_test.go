package account_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"email trimmed and lower-cased", account.NormalizeEmail("  Ada.Lovelace@Example.COM\t"), "ada.lovelace@example.com"},
		{"IDN domain in ASCII", account.NormalizeEmail("Ada@Bücher.Example"), "ada@xn--bcher-kva.example"},
		{"punycode domain unchanged", account.NormalizeEmail("ada@XN--BCHER-KVA.example"), "ada@xn--bcher-kva.example"},
		{"IP literal left for the validator", account.NormalizeEmail("ada@[127.0.0.1]"), "ada@[127.0.0.1]"},
		{"username lower-cased", account.NormalizeUsername("Ada_L"), "ada_l"},
		{"username @ dropped", account.NormalizeUsername(" @Ada "), "ada"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestValidateUsername(t *testing.T) {
	t.Parallel()
	tests := []struct {
		username string
		wantMsg  string // "" means valid
	}{
		{"ada", ""},
		{"ada.lovelace_1815", ""},
		{strings.Repeat("a", 30), ""},
		{"ab", "at least 3"},
		{strings.Repeat("a", 31), "at most 30"},
		{"1ada", "start with a letter"},
		{"_ada", "start with a letter"},
		{"ada-l", "only letters"},
		{"ada l", "only letters"},
		{"adä", "only letters"},
		{"admin", "reserved"},
		{"root", "reserved"},
		{"support", "reserved"},
		{"latchkey", "reserved"},
		{"api", "reserved"},
		{"system", "reserved"},
		{"null", "reserved"},
		{"me", "at least 3"}, // too short before it is reserved
	}
	for _, tc := range tests {
		t.Run(tc.username, func(t *testing.T) {
			err := account.ValidateUsername(tc.username)
			if tc.wantMsg == "" {
				if err != nil {
					t.Errorf("ValidateUsername(%q) = %v, want nil", tc.username, err)
				}
				return
			}
			var ue *account.UsernameError
			if !errors.As(err, &ue) || !strings.Contains(ue.Message, tc.wantMsg) {
				t.Errorf("ValidateUsername(%q) = %v, want a UsernameError containing %q", tc.username, err, tc.wantMsg)
			}
		})
	}
}

func TestAccountPredicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                          string
		a                             account.Account
		signIn, verified, primaryDone bool
	}{
		{"fresh registration", account.Account{Email: "a@x.io", EmailVerified: true, Status: account.StatusActive}, true, true, false},
		{"onboarded", account.Account{Email: "a@x.io", EmailVerified: true, Username: "ada", FirstName: "Ada", Status: account.StatusActive}, true, true, true},
		{"username only", account.Account{Username: "ada", Status: account.StatusActive}, true, false, false},
		{"verified phone", account.Account{Phone: "+254712347890", PhoneVerified: true, Status: account.StatusActive}, true, true, false},
		{"unverified email", account.Account{Email: "a@x.io", Status: account.StatusActive}, true, false, false},
		{"locked", account.Account{Email: "a@x.io", EmailVerified: true, Status: account.StatusLocked}, false, true, false},
		{"deactivated", account.Account{Status: account.StatusDeactivated}, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.CanSignIn(); got != tc.signIn {
				t.Errorf("CanSignIn() = %v, want %v", got, tc.signIn)
			}
			if got := tc.a.HasVerifiedChannel(); got != tc.verified {
				t.Errorf("HasVerifiedChannel() = %v, want %v", got, tc.verified)
			}
			if got := tc.a.PrimaryComplete(); got != tc.primaryDone {
				t.Errorf("PrimaryComplete() = %v, want %v", got, tc.primaryDone)
			}
		})
	}
}
