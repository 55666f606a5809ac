package e164_test

import (
	"errors"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/e164"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		number, country, want string
	}{
		{"+254712345678", "", "+254712345678"},
		{"+254 712-345 (678)", "", "+254712345678"},
		{"+1 (415) 555.0123", "", "+14155550123"},
		{"00254712345678", "", "+254712345678"},
		{"0712345678", "+254", "+254712345678"},
		{"0712 345 678", "+254", "+254712345678"},
		{"712345678", "254", "+254712345678"},
		{"+254712345678", "KE", "+254712345678"},
		{"+254712345678", "+254", "+254712345678"},
		{"+6834001", "", "+6834001"},   // 7 digits (Niue) is the shortest E.164 number
		{"0712345678", "", ""},         // national form without a calling code
		{"0712345678", "KE", ""},       // an ISO code is only a label
		{"+254712345678", "+44", ""},   // calling code does not match
		{"00254712345678", "+44", ""},  // nor in the 00 form
		{"+0712345678", "", ""},        // no calling code starts with 0
		{"+2547", "", ""},              // too short
		{"+2547123456789012", "", ""},  // too long
		{"+25471234567a", "", ""},      // letters
		{"+254712345678", "Kenya", ""}, // neither ISO code nor calling code
		{"+254712345678", "+2544", ""}, // calling codes have at most 3 digits
		{"", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.number+" "+tc.country, func(t *testing.T) {
			got, err := e164.Normalize(tc.number, tc.country)
			if tc.want == "" {
				if !errors.Is(err, e164.ErrInvalid) {
					t.Errorf("Normalize = %q, %v, want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Normalize = %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"+254712345678", true},
		{"+6834001", true},
		{"254712345678", false},
		{"+0712345678", false},
		{"+123456", false},
		{"+1234567890123456", false},
		{"+25471234567 ", false},
	}
	for _, tc := range tests {
		if got := e164.Valid(tc.s); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// FuzzNormalize checks that whatever Normalize accepts is a valid E.164 number that normalizes to
// itself, and that it never panics.
func FuzzNormalize(f *testing.F) {
	for _, seed := range [][2]string{
		{"+254712345678", ""}, {"0712 345 678", "+254"}, {"0712345678", "KE"}, {"00447700900123", "+44"},
		{"", ""}, {"+", "+1"}, {"12345", "US"}, {"+1 (415) 555-0123", ""}, {"٠١٢٣", "+20"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, number, country string) {
		got, err := e164.Normalize(number, country)
		if err != nil {
			return
		}
		if !e164.Valid(got) {
			t.Fatalf("Normalize(%q, %q) = %q, not valid E.164", number, country, got)
		}
		again, err := e164.Normalize(got, "")
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, %v; want it unchanged", got, again, err)
		}
	})
}
