package apikey

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/authn"
)

// TestGenerate checks that new keys are well-formed, carry the configured prefix, never repeat and
// draw on the whole base62 alphabet (a skewed generator would lose entropy).
func TestGenerate(t *testing.T) {
	for _, prefix := range []string{authn.APIKeyPrefixLive, authn.APIKeyPrefixTest} {
		t.Run(prefix, func(t *testing.T) {
			seen := make(map[string]bool)
			chars := make(map[rune]bool)
			for range 500 {
				k, err := generate(prefix)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(k, prefix) || !authn.WellFormedAPIKey(k) {
					t.Fatalf("generate(%q) = %q, want a well-formed key with the prefix", prefix, k)
				}
				if seen[k] {
					t.Fatalf("key %q generated twice", k)
				}
				seen[k] = true
				for _, r := range k[len(prefix) : len(prefix)+authn.APIKeyRandomLen] {
					chars[r] = true
				}
			}
			if len(chars) != len(base62) {
				t.Errorf("20 000 random characters used %d of the %d base62 characters", len(chars), len(base62))
			}
		})
	}
}
