package recovery_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/recovery"
)

var shown = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func TestGenerateFormat(t *testing.T) {
	codes, err := recovery.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != recovery.SetSize {
		t.Fatalf("%d codes, want %d", len(codes), recovery.SetSize)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !shown.MatchString(c) {
			t.Errorf("code %q is not two groups of five unambiguous symbols", c)
		}
		if seen[c] {
			t.Errorf("code %q twice in one set", c)
		}
		seen[c] = true
		if n, ok := recovery.Normalize(c); !ok || recovery.Format(n) != c {
			t.Errorf("Normalize(%q) = %q, %v; it does not read back", c, n, ok)
		}
	}
}

// TestGenerateUniformAndUnique: over many sets no code repeats and every symbol of the alphabet turns
// up about as often as the others (a biased draw would lower the entropy).
func TestGenerateUniformAndUnique(t *testing.T) {
	const sets = 400
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range sets {
		codes, err := recovery.Generate()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range codes {
			if seen[c] {
				t.Fatalf("code %s generated twice", c)
			}
			seen[c] = true
			for _, r := range strings.ReplaceAll(c, "-", "") {
				counts[r]++
			}
		}
	}
	if len(counts) != 32 {
		t.Fatalf("%d distinct symbols, want 32: %v", len(counts), counts)
	}
	// 40,000 symbols: 1,250 expected per symbol, standard deviation about 35.
	for r, n := range counts {
		if n < 1000 || n > 1500 {
			t.Errorf("symbol %q drawn %d times, want about 1250", r, n)
		}
	}
}

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"abcde-fghjk", "abcdefghjk", true},
		{"ABCDE-FGHJK", "abcdefghjk", true},
		{"abcdefghjk", "abcdefghjk", true},
		{" abcde fghjk ", "abcdefghjk", true},
		{"ab cd-ef gh jk", "abcdefghjk", true},
		{"o0iIl-12345", "0011112345", true}, // Crockford: o is 0, i and l are 1
		{"abcde-fghj", "", false},           // too short
		{"abcde-fghjkm", "", false},         // too long
		{"abcde-fghju", "", false},          // u is not in the alphabet
		{"abcde_fghjk", "", false},
		{"abcdé-fghjk", "", false},
		{"", "", false},
		{strings.Repeat("-", 1000) + "abcdefghjk", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := recovery.Normalize(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Normalize(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestHash: the hash is keyed and bound to the set: another key or another set gives another hash,
// and nothing of the code shows in it.
func TestHash(t *testing.T) {
	a := recovery.New(recovery.KeyFrom("secret-one-0123456789abcdef012345"), nil)
	b := recovery.New(recovery.KeyFrom("secret-two-0123456789abcdef012345"), nil)
	h := a.Hash("set1", "abcdefghjk")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("hash %q, want 64 hex digits", h)
	}
	if h != a.Hash("set1", "abcdefghjk") {
		t.Error("the hash is not deterministic")
	}
	for name, other := range map[string]string{
		"another key":  b.Hash("set1", "abcdefghjk"),
		"another set":  a.Hash("set2", "abcdefghjk"),
		"another code": a.Hash("set1", "abcdefghjm"),
	} {
		if other == h {
			t.Errorf("%s gives the same hash", name)
		}
	}
	if strings.Contains(h, "abcdefghjk") {
		t.Error("the hash shows the code")
	}
}
