package auth_test

import (
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

func TestSignInMethods(t *testing.T) {
	tests := []struct {
		name      string
		a         account.Account
		providers int
		want      int
	}{
		{"password and e-mail", account.Account{PasswordHash: "h", Email: "a@example.com"}, 0, 1},
		{"password and username", account.Account{PasswordHash: "h", Username: "ada"}, 0, 1},
		{"password without an identifier", account.Account{PasswordHash: "h", Phone: "+254712345678", PhoneVerified: true}, 0, 0},
		{"verified e-mail without password (no code-only sign-in)", account.Account{Email: "a@example.com", EmailVerified: true}, 0, 0},
		{"passwordless with one provider", account.Account{Email: "a@example.com"}, 1, 1},
		{"password and two providers", account.Account{PasswordHash: "h", Username: "ada"}, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.SignInMethods(tc.a, tc.providers); got != tc.want {
				t.Errorf("SignInMethods = %d, want %d", got, tc.want)
			}
		})
	}
}
