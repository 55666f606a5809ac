package otp_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
)

func TestGenerateCode(t *testing.T) {
	t.Parallel()
	const draws = 20000
	seen := make(map[string]bool, draws)
	var firstDigit [10]int
	for range draws {
		code, err := otp.GenerateCode()
		if err != nil {
			t.Fatal(err)
		}
		if !otp.ValidCodeFormat(code) {
			t.Fatalf("GenerateCode() = %q, want 6 digits", code)
		}
		seen[code] = true
		firstDigit[code[0]-'0']++
	}
	// 20000 draws from a million codes: about 200 collisions are expected (birthday bound, σ≈14);
	// many more mean a weak source.
	if len(seen) < draws-300 {
		t.Errorf("%d distinct codes in %d draws, want nearly all distinct", len(seen), draws)
	}
	// Leading zeros must be as likely as any other digit (codes are zero-padded, not 100000–999999).
	for d, n := range firstDigit {
		if n < draws/10*8/10 || n > draws/10*12/10 {
			t.Errorf("first digit %d drawn %d times, want about %d", d, n, draws/10)
		}
	}
}

func TestValidCodeFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		want bool
	}{
		{"000000", true}, {"482910", true}, {"48291", false}, {"4829100", false}, {"48291a", false},
		{" 48291", false}, {"", false}, {"४८२९१०", false}, // Devanagari digits are not ASCII digits
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			if got := otp.ValidCodeFormat(tc.code); got != tc.want {
				t.Errorf("ValidCodeFormat(%q) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
}

func TestPepperHashes(t *testing.T) {
	t.Parallel()
	p := otp.Pepper("pepper-one-0123456789abcdef")
	q := otp.Pepper("pepper-two-0123456789abcdef")
	tests := []struct {
		name      string
		a, b      string
		wantEqual bool
	}{
		{"deterministic", p.CodeHash("c1", "123456"), p.CodeHash("c1", "123456"), true},
		{"bound to the challenge", p.CodeHash("c1", "123456"), p.CodeHash("c2", "123456"), false},
		{"bound to the code", p.CodeHash("c1", "123456"), p.CodeHash("c1", "123457"), false},
		{"bound to the pepper", p.CodeHash("c1", "123456"), q.CodeHash("c1", "123456"), false},
		{"codes and tokens are separate domains", p.CodeHash("c1", "x"), p.TokenHash("c1|x"), false},
		{"token hash deterministic", p.TokenHash("dvt_abc"), p.TokenHash("dvt_abc"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a == tc.b; got != tc.wantEqual {
				t.Errorf("equal = %v, want %v (%s vs %s)", got, tc.wantEqual, tc.a, tc.b)
			}
			if len(tc.a) != 64 || strings.Contains(tc.a, "123456") {
				t.Errorf("hash %q is not a hex HMAC-SHA256 hiding the code", tc.a)
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	a, err := otp.NewToken("dvt_")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := otp.NewToken("dvt_")
	if a == b {
		t.Error("two tokens are equal")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(a, "dvt_"))
	if !strings.HasPrefix(a, "dvt_") || err != nil || len(raw) != 32 {
		t.Errorf("token %q: want dvt_ + base64url of 32 bytes (decode err %v, %d bytes)", a, err, len(raw))
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		channel, in, want string
	}{
		{events.ChannelEmail, "john@example.com", "jo***@example.com"},
		{events.ChannelEmail, "jo@example.com", "j***@example.com"},
		{events.ChannelEmail, "j@example.com", "j***@example.com"},
		{events.ChannelEmail, "élodie@example.fr", "él***@example.fr"},
		{events.ChannelEmail, "not-an-email", "***"},
		{events.ChannelSMS, "+254712347890", "+254***7890"},
		{events.ChannelWhatsApp, "+14155550123", "+141***0123"},
		{events.ChannelSMS, "+1234567", "+1***67"},
		{events.ChannelSMS, "+123", "***"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := otp.Mask(tc.channel, tc.in); got != tc.want {
				t.Errorf("Mask(%s, %q) = %q, want %q", tc.channel, tc.in, got, tc.want)
			}
		})
	}
}

func TestKeyGroupsRegistrationAndNotice(t *testing.T) {
	t.Parallel()
	code := otp.Key(events.PurposeRegistration, "a@example.com")
	notice := otp.Key(events.PurposeRegistrationExisting, "a@example.com")
	device := otp.Key(events.PurposeDeviceVerification, "a@example.com")
	if code != notice {
		t.Errorf("registration key %q != notice key %q: the two answers would be throttled differently", code, notice)
	}
	if device == code {
		t.Errorf("device verification shares the registration key %q", device)
	}
}
