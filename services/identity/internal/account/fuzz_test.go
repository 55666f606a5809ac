package account_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// FuzzValidateUsername checks the username rule on arbitrary input: an accepted name is already
// normalized, 3–30 characters of a–z, 0–9, "_" and ".", starting with a letter.
func FuzzValidateUsername(f *testing.F) {
	for _, s := range []string{"ada", "@Ada", "a", "admin", "ada.lovelace_1", "1ada", "ädä", strings.Repeat("a", 31), "a\x00b", " ada "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u := account.NormalizeUsername(raw)
		if account.ValidateUsername(u) != nil {
			return
		}
		if u != account.NormalizeUsername(u) || len(u) < account.UsernameMinLength || len(u) > account.UsernameMaxLength || u[0] < 'a' || u[0] > 'z' {
			t.Fatalf("ValidateUsername accepted %q (from %q)", u, raw)
		}
		for _, r := range u {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
				t.Fatalf("ValidateUsername accepted %q with %q", u, r)
			}
		}
	})
}
