package wire

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Checker collects field errors in FastAPI's vocabulary, so both styles report every problem at once.
// Loc is the location prefix of the fields it checks ("body" or "query").
type Checker struct {
	Loc    string
	fields []FieldError
}

// NewChecker checks fields of the request body.
func NewChecker() *Checker { return &Checker{Loc: "body"} }

// Fail records a failed rule.
func (c *Checker) Fail(field, msg, typ string) {
	c.fields = append(c.fields, FieldError{Loc: []string{c.Loc, field}, Msg: msg, Type: typ})
}

// Failed reports whether field already has an error.
func (c *Checker) Failed(field string) bool {
	for _, f := range c.fields {
		if f.field() == field {
			return true
		}
	}
	return false
}

// Required fails when value is blank. It reports whether value is present.
func (c *Checker) Required(field, value string) bool {
	if strings.TrimSpace(value) == "" {
		c.Fail(field, "Field required", "missing")
		return false
	}
	return true
}

// MaxLen fails when value has more than n characters.
func (c *Checker) MaxLen(field, value string, n int) {
	if utf8.RuneCountInString(value) > n {
		c.Fail(field, fmt.Sprintf("String should have at most %d characters", n), "string_too_long")
	}
}

// Email fails when a non-empty value is not a plain e-mail address.
func (c *Checker) Email(field, value string) {
	if value != "" && !ValidEmail(value) {
		c.Fail(field, "value is not a valid email address", "value_error")
	}
}

// OneOf fails when a non-empty value is not one of allowed (exact match).
func (c *Checker) OneOf(field, value string, allowed ...string) {
	if value == "" {
		return
	}
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = "'" + a + "'"
	}
	msg := "Input should be " + quoted[0]
	if len(quoted) > 1 {
		msg = "Input should be " + strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
	}
	c.Fail(field, msg, "enum")
}

// Check fails with msg when ok is false.
func (c *Checker) Check(ok bool, field, msg, typ string) {
	if !ok {
		c.Fail(field, msg, typ)
	}
}

// Err returns a 422 listing every failed rule, or nil.
func (c *Checker) Err() error {
	if len(c.fields) == 0 {
		return nil
	}
	return Invalid(c.fields...)
}

// ValidEmail reports whether s is a bare address (no display name) of sane length whose domain is a
// dotted host name in ASCII: an internationalised domain must be given in its punycode form
// (normalise it first), and IP-address domains ("a@[127.0.0.1]", "a@127.0.0.1") are refused — no
// mailbox of a person lives there, and codes sent to them would go to whichever host that is.
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at <= 64 && validMailDomain(s[at+1:])
}

// validMailDomain reports whether d is a host name of at least two labels, each 1–63 letters, digits
// and inner hyphens, whose top-level label is not all digits (which would make it an IPv4 address).
func validMailDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.Trim(tld, "0123456789") != ""
}
