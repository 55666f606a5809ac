package account_test

import (
	"errors"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		number, country, want string
	}{
		{"+254712345678", "", "+254712345678"},
		{"+254 712-345 (678)", "", "+254712345678"},
		{"00254712345678", "", "+254712345678"},
		{"0712345678", "+254", "+254712345678"},
		{"712345678", "254", "+254712345678"},
		{"+254712345678", "KE", "+254712345678"},
		{"+254712345678", "+254", "+254712345678"},
		{"0712345678", "", ""},         // national form without a calling code
		{"+254712345678", "+44", ""},   // calling code does not match
		{"+0712345678", "", ""},        // no calling code starts with 0
		{"+2547", "", ""},              // too short
		{"+2547123456789012", "", ""},  // too long
		{"+25471234567a", "", ""},      // letters
		{"+254712345678", "Kenya", ""}, // neither ISO code nor calling code
		{"", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.number+"|"+tc.country, func(t *testing.T) {
			got, err := account.NormalizePhone(tc.number, tc.country)
			if tc.want == "" {
				if !errors.Is(err, account.ErrInvalidPhone) {
					t.Errorf("NormalizePhone = %q, %v, want ErrInvalidPhone", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("NormalizePhone = %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}
