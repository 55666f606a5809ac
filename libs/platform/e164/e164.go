// Package e164 turns phone numbers as people type them into E.164 form ("+" and the digits, country
// calling code first), the one form every service stores, compares and sends to.
package e164

import (
	"errors"
	"regexp"
	"strings"
)

// ErrInvalid: not a phone number in international form, or one whose calling code does not match
// the one given.
var ErrInvalid = errors.New("invalid phone number")

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Valid reports whether s is an E.164 number: "+", then 7 to 15 digits, the first not 0.
func Valid(s string) bool { return e164.MatchString(s) }

// filler are the characters people type inside phone numbers.
var filler = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "")

// Normalize returns number in E.164 form, after removing spaces, dashes, dots and parentheses; "00"
// in front stands for "+". countryCode is optional: a calling code ("+254", "254") that is put in
// front of a number written without "+" (its leading 0 dropped), and that a number written with "+"
// must start with; or an ISO 3166 alpha-2 code ("KE"), accepted as a label only, since the number
// itself must then carry its calling code. ErrInvalid otherwise.
func Normalize(number, countryCode string) (string, error) {
	n := filler.Replace(strings.TrimSpace(number))
	cc := strings.TrimSpace(countryCode)
	dial := ""
	switch digits := strings.TrimPrefix(cc, "+"); {
	case cc == "":
	case len(cc) == 2 && isLetters(cc):
	case len(digits) >= 1 && len(digits) <= 3 && isDigits(digits):
		dial = digits
	default:
		return "", ErrInvalid
	}
	switch {
	case strings.HasPrefix(n, "+"):
		n = n[1:]
		if dial != "" && !strings.HasPrefix(n, dial) {
			return "", ErrInvalid
		}
	case strings.HasPrefix(n, "00"):
		n = n[2:]
		if dial != "" && !strings.HasPrefix(n, dial) {
			return "", ErrInvalid
		}
	case dial != "":
		n = dial + strings.TrimPrefix(n, "0")
	default:
		return "", ErrInvalid
	}
	if !Valid("+" + n) {
		return "", ErrInvalid
	}
	return "+" + n, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func isLetters(s string) bool {
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return false
		}
	}
	return s != ""
}
