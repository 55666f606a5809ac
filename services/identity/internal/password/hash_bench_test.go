package password_test

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// BenchmarkHash is argon2id at the parameters identity runs with (m=19 MiB, t=2, p=1): the CPU
// floor of every registration and password change. The working memory is the Hasher's pooled
// workspace (allocated by NewHasher's dummy hash), so B/op is the PHC string and salt, not 19 MiB;
// argon2id's BenchmarkIDKey compares with x/crypto.
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

// BenchmarkVerifyParallel is many logins at once (8 goroutines per core) against the default
// bound (GOMAXPROCS derivations): with -benchmem, B/op stays near zero (the GOMAXPROCS workspaces
// are allocated once, reported as workspaces) and the reported peak-hashes never exceeds GOMAXPROCS,
// however many callers there are.
func BenchmarkVerifyParallel(b *testing.B) {
	h, err := password.NewBoundedHasher(password.DefaultParams, password.Concurrency{MaxQueue: 1 << 20, MaxWait: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	encoded, err := h.Hash("correct-Horse-42-staple")
	if err != nil {
		b.Fatal(err)
	}
	var warm sync.WaitGroup // warm-up: every slot's workspace allocated before the timer starts
	for range runtime.GOMAXPROCS(0) {
		warm.Go(func() { _, _, _ = h.Verify("correct-Horse-42-staple", encoded) })
	}
	warm.Wait()
	b.ResetTimer()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := h.Verify("correct-Horse-42-staple", encoded); err != nil || !ok {
				b.Errorf("verify: ok=%v err=%v", ok, err)
				return
			}
		}
	})
	b.ReportMetric(float64(h.PeakConcurrent()), "peak-hashes")
	b.ReportMetric(float64(h.ArgonMemory().Workspaces), "workspaces")
}
