package otp

import (
	"strings"
	"unicode/utf8"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// MaskEmail shows the first two characters of the local part and the domain: jo***@example.com.
// A one- or two-character local part keeps only its first character.
func MaskEmail(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return "***"
	}
	local, domain := email[:at], email[at+1:]
	keep := 2
	if utf8.RuneCountInString(local) <= 2 {
		keep = 1
	}
	return firstRunes(local, keep) + "***@" + domain
}

// MaskPhone shows the first four and the last four characters of an E.164 number: +254***7890.
// Short numbers keep two at each end.
func MaskPhone(phone string) string {
	n := len(phone)
	switch {
	case n > 8:
		return phone[:4] + "***" + phone[n-4:]
	case n > 4:
		return phone[:2] + "***" + phone[n-2:]
	}
	return "***"
}

// Mask masks a destination for display according to its channel.
func Mask(channel, destination string) string {
	if channel == events.ChannelEmail {
		return MaskEmail(destination)
	}
	return MaskPhone(destination)
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
