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

// ValidEmail reports whether s is a bare address (no display name) of sane length with a dotted domain.
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && at <= 64 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}
