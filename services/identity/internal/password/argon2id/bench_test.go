//go:build unix

package argon2id_test

import (
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latchkey/latchkey/services/identity/internal/password/argon2id"
)

// BenchmarkIDKey compares a derivation at identity's parameters (m=19 MiB, t=2, p=1) in pooled memory
// with x/crypto/argon2.IDKey, which allocates (and has the runtime zero) 19 MiB per call. With
// -benchmem the pooled one reports a few hundred bytes per op after its first derivation. cpu-ms/op
// is the process's user+system CPU per derivation, the garbage collector's background work included
// (ns/op, wall time on one goroutine, leaves that out).
func BenchmarkIDKey(b *testing.B) {
	password, salt := []byte("correct-Horse-42-staple"), []byte("0123456789abcdef")
	b.Run("pool", func(b *testing.B) {
		pool := argon2id.NewPool(1, 19456)
		pool.IDKey(password, salt, 2, 19456, 1, 32) // warm-up: allocates the workspace
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			pool.IDKey(password, salt, 2, 19456, 1, 32)
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
	b.Run("x-crypto", func(b *testing.B) {
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			argon2.IDKey(password, salt, 2, 19456, 1, 32)
		}
		b.ReportMetric(float64(processCPU()-cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	})
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
