package password_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	owner := password.Owner{Username: "johnny", Email: "john.doe@example.com"}
	tests := []struct {
		name  string
		pw    string
		owner password.Owner
		want  password.Rule // "" means accepted
	}{
		{"accepted", "Tr4vel-Lamp-Orbit", owner, ""},
		{"exactly 8 characters", "zq7vbn3k", owner, ""},
		{"exactly 128 characters", strings.Repeat("a1", 64), owner, ""},
		{"too short", "ab3def7", owner, password.RuleTooShort},
		{"empty", "", owner, password.RuleTooShort},
		{"length counts characters not bytes", "ééé1ééé", owner, password.RuleTooShort},
		{"too long", strings.Repeat("a1", 64) + "x", owner, password.RuleTooLong},
		{"no composition rule: a passphrase of letters", "correcthorsebatterystaple", owner, ""},
		{"no composition rule: 25 letters and spaces", "mauve lantern quietly hums", owner, ""},
		{"no composition rule: digits only", "83920174", owner, ""},
		{"length counts the NFKC form", "ﬃﬃﬃﬃ", owner, ""}, // 4 ligatures, 12 letters once normalised
		{"common", "password1", owner, password.RuleCommon},
		{"common ignores case", "PassWord123", owner, password.RuleCommon},
		{"common keyboard walk", "qwerty123", owner, password.RuleCommon},
		{"common iloveyou", "iloveyou1", owner, password.RuleCommon},
		{"equals username", "johnny99x", password.Owner{Username: "johnny99x"}, password.RuleContainsUsername},
		{"contains username", "xJOHNNY42", owner, password.RuleContainsUsername},
		{"contains email local part", "8john.doe8", owner, password.RuleContainsEmail},
		{"equals email", "j1@example.com", password.Owner{Email: "j1@example.com"}, password.RuleContainsEmail},
		{"short local part only refused when equal", "ab1cdefgh", password.Owner{Email: "ab@example.com"}, ""},
		{"no owner", "Tr4vel-Lamp", password.Owner{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := password.Check(tc.pw, tc.owner)
			var got password.Rule
			var pe *password.PolicyError
			if errors.As(err, &pe) {
				got = pe.Rule
				if pe.Message == "" {
					t.Error("policy error has no message")
				}
			} else if err != nil {
				t.Fatalf("Check() error = %v, want a *PolicyError", err)
			}
			if got != tc.want {
				t.Errorf("Check(%q) rule = %q, want %q (err %v)", tc.pw, got, tc.want, err)
			}
		})
	}
}

func TestCommonListSize(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"123456", "password", "qwerty123", "iloveyou1", "letmein", "Welcome1", "dragon2024"} {
		if !password.IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false, want true", pw)
		}
	}
	if password.IsCommon("Tr4vel-Lamp-Orbit") {
		t.Error("IsCommon(random phrase) = true, want false")
	}
}

var fast = password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func TestHashVerify(t *testing.T) {
	t.Parallel()
	h, err := password.NewHasher(password.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := h.Hash("Tr4vel-Lamp-Orbit")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoded = %q, want PHC argon2id with m=19456,t=2,p=1", encoded)
	}
	again, _ := h.Hash("Tr4vel-Lamp-Orbit")
	if again == encoded {
		t.Error("two hashes of one password are equal: salt is not random")
	}
	tests := []struct {
		name   string
		plain  string
		wantOK bool
	}{
		{"right password", "Tr4vel-Lamp-Orbit", true},
		{"wrong password", "Tr4vel-Lamp-OrbiT", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tc.plain, encoded)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || rehash {
				t.Errorf("Verify() = %v, rehash %v; want %v, false", ok, rehash, tc.wantOK)
			}
		})
	}
}

func TestVerifyUpgrade(t *testing.T) {
	t.Parallel()
	weak, err := password.NewHasher(fast)
	if err != nil {
		t.Fatal(err)
	}
	strong, err := password.NewHasher(password.Params{MemoryKiB: 128, Iterations: 2, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := weak.Hash("Tr4vel-Lamp-Orbit")
	tests := []struct {
		name       string
		hasher     *password.Hasher
		plain      string
		wantOK     bool
		wantRehash bool
	}{
		{"weaker hash still verifies and asks for rehash", strong, "Tr4vel-Lamp-Orbit", true, true},
		{"wrong password never asks for rehash", strong, "nope1234", false, false},
		{"same parameters need no rehash", weak, "Tr4vel-Lamp-Orbit", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := tc.hasher.Verify(tc.plain, old)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK || rehash != tc.wantRehash {
				t.Errorf("Verify() = ok %v rehash %v, want ok %v rehash %v", ok, rehash, tc.wantOK, tc.wantRehash)
			}
		})
	}
	upgraded, _ := strong.Hash("Tr4vel-Lamp-Orbit")
	if !strings.Contains(upgraded, "$m=128,t=2,p=1$") {
		t.Errorf("upgraded hash %q does not carry the new parameters", upgraded)
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	h, _ := password.NewHasher(fast)
	good, _ := h.Hash("Tr4vel-Lamp-Orbit")
	parts := strings.Split(good, "$")
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuCEqFVQH2xqrrZ7XHy6YzQQ9P1dFQ2fS"},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"wrong version", strings.Replace(good, "v=19", "v=16", 1)},
		{"trailing junk in params", strings.Replace(good, parts[3], parts[3]+"x", 1)},
		{"huge memory", strings.Replace(good, parts[3], "m=99999999,t=1,p=1", 1)},
		{"zero parallelism", strings.Replace(good, parts[3], "m=64,t=1,p=0", 1)},
		{"bad salt", strings.Replace(good, parts[4], "!!", 1)},
		{"missing hash", strings.Join(parts[:5], "$")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, _, err := h.Verify("Tr4vel-Lamp-Orbit", tc.encoded)
			if ok || !errors.Is(err, password.ErrMalformedHash) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformedHash", tc.encoded, ok, err)
			}
		})
	}
}

func TestNewHasherRejectsBadParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    password.Params
	}{
		{"zero iterations", password.Params{MemoryKiB: 64, Iterations: 0, Parallelism: 1}},
		{"zero parallelism", password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 0}},
		{"memory below 8 per lane", password.Params{MemoryKiB: 8, Iterations: 1, Parallelism: 2}},
		{"memory above cap", password.Params{MemoryKiB: 1<<20 + 1, Iterations: 1, Parallelism: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := password.NewHasher(tc.p); err == nil {
				t.Errorf("NewHasher(%+v) error = nil, want an error", tc.p)
			}
		})
	}
}

func TestHasherDefaultsLengths(t *testing.T) {
	t.Parallel()
	h, _ := password.NewHasher(fast)
	if got := h.Params(); got.MemoryKiB != 64 || got.KeyLen != 32 || got.SaltLen != 16 {
		t.Errorf("Params() = %+v, want m=64 with default salt and key lengths", got)
	}
}
