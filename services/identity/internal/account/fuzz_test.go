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

// FuzzNormalizePhone checks identity's phone rule: an accepted number is E.164 (+, no leading
// zero, 8 to 15 digits) and normalizing it again changes nothing.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range [][2]string{{"+254 712 345 678", ""}, {"0712345678", "+254"}, {"0712345678", "KE"}, {"00254712345678", ""}, {"+1 (555) 010-9999", "1"}, {"+", ""}, {"abc", "+1"}, {"+2547123456789012345", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, number, country string) {
		n, err := account.NormalizePhone(number, country)
		if err != nil {
			return
		}
		if len(n) < 9 || len(n) > 16 || n[0] != '+' || n[1] == '0' || strings.Trim(n[1:], "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q, %q) = %q, not E.164", number, country, n)
		}
		if again, err := account.NormalizePhone(n, ""); err != nil || again != n {
			t.Fatalf("NormalizePhone(%q) = %q, %v: not idempotent", n, again, err)
		}
	})
}
