package account

import (
	"strings"
	"unicode/utf8"
)

// Username length limits.
const (
	UsernameMinLength = 3
	UsernameMaxLength = 30
)

// reserved usernames could be mistaken for the platform speaking, or collide with routes.
var reserved = map[string]bool{}

func init() {
	for _, u := range strings.Fields(`
		admin administrator root superuser sysadmin support help helpdesk info security staff team
		moderator mod official owner latchkey api system null nil none undefined me self you anonymous
		user users account accounts settings profile login logout signin signout signup register auth
		oauth sso www mail email noreply postmaster webmaster hostmaster abuse billing payments
		about contact privacy terms legal status test guest everyone all`) {
		reserved[u] = true
	}
}

// UsernameError says why a username is not acceptable, in words fit for the client.
type UsernameError struct{ Message string }

func (e *UsernameError) Error() string { return e.Message }

// NormalizeUsername trims a username, drops a leading "@" and lower-cases it: usernames are
// case-insensitive.
func NormalizeUsername(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "@"))
}

// ValidateUsername checks a normalized username: 3–30 characters of a–z, 0–9, "_" and ".", starting
// with a letter, and not reserved. It returns a *UsernameError or nil.
func ValidateUsername(u string) error {
	n := utf8.RuneCountInString(u)
	switch {
	case n < UsernameMinLength:
		return &UsernameError{"Username must be at least 3 characters"}
	case n > UsernameMaxLength:
		return &UsernameError{"Username must be at most 30 characters"}
	case u[0] < 'a' || u[0] > 'z':
		return &UsernameError{"Username must start with a letter"}
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return &UsernameError{"Username may contain only letters, digits, underscores and dots"}
		}
	}
	if reserved[u] {
		return &UsernameError{"Username is reserved"}
	}
	return nil
}
