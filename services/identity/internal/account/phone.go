package account

import (
	"errors"
	"strings"
)

// ErrInvalidPhone: a phone number that is not in international (E.164) form, or whose country code
// does not match it.
var ErrInvalidPhone = errors.New("invalid phone number")

// ErrPhoneTaken: the phone number is verified on another account.
var ErrPhoneTaken = errors.New("phone number already in use")

// NormalizePhone returns number in E.164 form (+ and 8 to 15 digits, no leading zero), after removing
// spaces, dashes, dots and parentheses. countryCode is optional: a calling code ("+254", "254") that
// is put in front of a number written without "+", and that a number written with "+" must start
// with; or an ISO 3166 alpha-2 code ("KE"), which is accepted as a label only, as the number itself
// carries its calling code.
func NormalizePhone(number, countryCode string) (string, error) {
	n := strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "").Replace(strings.TrimSpace(number))
	cc := strings.TrimSpace(countryCode)
	dial := ""
	switch {
	case cc == "":
	case isLetters(cc) && len(cc) == 2:
	case isDigits(strings.TrimPrefix(cc, "+")) && len(strings.TrimPrefix(cc, "+")) >= 1 && len(strings.TrimPrefix(cc, "+")) <= 3:
		dial = strings.TrimPrefix(cc, "+")
	default:
		return "", ErrInvalidPhone
	}
	switch {
	case strings.HasPrefix(n, "+"):
		n = n[1:]
		if dial != "" && !strings.HasPrefix(n, dial) {
			return "", ErrInvalidPhone
		}
	case strings.HasPrefix(n, "00"):
		n = n[2:]
	case dial != "":
		n = dial + strings.TrimPrefix(n, "0")
	default:
		return "", ErrInvalidPhone
	}
	if !isDigits(n) || len(n) < 8 || len(n) > 15 || n[0] == '0' {
		return "", ErrInvalidPhone
	}
	return "+" + n, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return s != ""
}
