package password_test

import (
	"testing"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// BenchmarkHash is argon2id at the parameters identity runs with (m=19 MiB, t=2, p=1): the CPU
// floor of every registration and password change.
func BenchmarkHash(b *testing.B) {
	h, err := password.NewHasher(password.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct-Horse-42-staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the password check of a login at the same parameters.
func BenchmarkVerify(b *testing.B) {
	h, err := password.NewHasher(password.DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := h.Hash("correct-Horse-42-staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify("correct-Horse-42-staple", encoded); err != nil || !ok {
			b.Fatalf("verify: ok=%v err=%v", ok, err)
		}
	}
}
