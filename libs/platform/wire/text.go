package wire

import "strings"

// Text that people read as someone's name or device must show what it is. Invisible characters can
// make two names look alike ("admin" and "ad\u200bmin"), bidirectional overrides can make text read
// differently from what it is ("gpj.exe" shown as "exe.jpg"), and control characters break logs,
// e-mails and terminals (the Trojan Source class of attack, CVE-2021-42574).

// UnsafeTextRune reports whether r must not appear in a name or device field: a control character
// (Unicode Cc, tab and newline included), a bidirectional formatting character (U+061C, U+200E,
// U+200F, U+202A–U+202E, U+2066–U+2069), a zero-width or invisible character (U+200B–U+200D,
// U+2060–U+2064, U+FEFF, U+180E) or a line or paragraph separator (U+2028, U+2029).
func UnsafeTextRune(r rune) bool {
	switch {
	case r < 0x20 || r >= 0x7f && r <= 0x9f: // Cc
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2060 && r <= 0x2064, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x061c, r == 0x180e, r == 0x2028, r == 0x2029, r == 0xfeff:
		return true
	}
	return false
}

// PlainText fails when value contains a character UnsafeTextRune refuses. Use it for every name
// (first, last, full, display) and device field a person supplies.
func (c *Checker) PlainText(field, value string) {
	if strings.ContainsFunc(value, UnsafeTextRune) {
		c.Fail(field, "String should not contain control, invisible or bidirectional formatting characters", "string_pattern_mismatch")
	}
}

// CleanText returns s without the characters UnsafeTextRune refuses. It is for values that are
// recorded rather than chosen, such as a User-Agent header: they are stored cleaned, not refused.
func CleanText(s string) string {
	if !strings.ContainsFunc(s, UnsafeTextRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if UnsafeTextRune(r) {
			return -1
		}
		return r
	}, s)
}
