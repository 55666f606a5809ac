package argon2id_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/latchkey/latchkey/services/identity/internal/password/argon2id"
)

// Every derivation must give x/crypto's bytes, whatever memory the pool hands it: the same pool
// serves all the sets below one after the other, so each runs in memory the previous ones dirtied,
// in a prefix of a bigger workspace, or (above the pool's size) in memory of its own.
func TestIDKeyMatchesXCrypto(t *testing.T) {
	t.Parallel()
	pool := argon2id.NewPool(1, 300)
	passwords := [][]byte{nil, []byte("p"), []byte("correct-Horse-42-staple"), bytes.Repeat([]byte("ü"), 100)}
	salts := [][]byte{nil, []byte("12345678"), []byte("a salt of an odd length!!"), bytes.Repeat([]byte{0xff}, 64)}
	type set struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}
	var sets []set
	for _, memory := range []uint32{1, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 100, 257, 299, 300, 301, 1000} {
		for _, threads := range []uint8{1, 2, 3, 4, 7} {
			for _, time := range []uint32{1, 2, 3} {
				sets = append(sets, set{time, memory, threads, []uint32{4, 16, 31, 32, 33, 64, 65, 100, 128}[(int(memory)+int(time)+int(threads))%9]})
			}
		}
	}
	sets = append(sets, set{2, 19456, 1, 32}, set{1, 19456, 2, 64}, set{3, 12288, 1, 32})
	for i, s := range sets {
		pw, salt := passwords[i%len(passwords)], salts[(i/len(passwords))%len(salts)]
		want := argon2.IDKey(pw, salt, s.time, s.memory, s.threads, s.keyLen)
		if got := pool.IDKey(pw, salt, s.time, s.memory, s.threads, s.keyLen); !bytes.Equal(got, want) {
			t.Errorf("t=%d m=%d p=%d keyLen=%d password %q salt %x: got %x, want %x", s.time, s.memory, s.threads, s.keyLen, pw, salt, got, want)
		}
	}
	if st := pool.Stats(); st.Workspaces != 1 {
		t.Errorf("stats = %+v, want the one workspace the pool has room for", st)
	}
}

// A pool made for m=19 MiB (identity's default) serves a stronger stored parameter set with memory
// of its own, and keeps only its own workspaces.
func TestBiggerParameterSetRunsInItsOwnMemory(t *testing.T) {
	t.Parallel()
	pool := argon2id.NewPool(2, 1024)
	want := argon2.IDKey([]byte("pw"), []byte("saltsalt"), 1, 4096, 1, 32)
	if got := pool.IDKey([]byte("pw"), []byte("saltsalt"), 1, 4096, 1, 32); !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	if st := pool.Stats(); st.Workspaces != 0 || st.OneOff != 1 {
		t.Errorf("stats = %+v, want no pooled workspace and one one-off derivation", st)
	}
	pool.IDKey([]byte("pw"), []byte("saltsalt"), 1, 1024, 1, 32)
	if st := pool.Stats(); st.Workspaces != 1 || st.Bytes != 1024*1024 || st.OneOff != 1 {
		t.Errorf("stats = %+v, want one 1 MiB workspace", st)
	}
}

// Concurrent derivations, at most Size at a time (as identity's gate runs them), never make the pool
// allocate more than Size workspaces, and each gets x/crypto's answer.
func TestPoolNeverHoldsMoreThanSize(t *testing.T) {
	t.Parallel()
	const size = 3
	pool := argon2id.NewPool(size, 64)
	sem := make(chan struct{}, size)
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 60 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			pw := fmt.Appendf(nil, "password %d", i)
			if got, want := pool.IDKey(pw, []byte("somesalt"), 1, 64, 1, 32), argon2.IDKey(pw, []byte("somesalt"), 1, 64, 1, 32); !bytes.Equal(got, want) {
				errs <- fmt.Errorf("derivation %d: got %x, want %x", i, got, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := pool.Stats(); st.Workspaces < 1 || st.Workspaces > size || st.OneOff != 0 {
		t.Errorf("stats = %+v, want 1..%d workspaces and no one-off memory", st, size)
	}
}

// Without a bound on callers the pool still keeps at most Size workspaces: the rest run in memory of
// their own, as with x/crypto.
func TestPoolOverflowDoesNotGrowThePool(t *testing.T) {
	t.Parallel()
	pool := argon2id.NewPool(1, 64)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			<-start
			pool.IDKey([]byte("pw"), []byte("somesalt"), 8, 64, 1, 32)
		})
	}
	close(start)
	wg.Wait()
	if st := pool.Stats(); st.Workspaces != 1 {
		t.Errorf("stats = %+v, want 1 workspace", st)
	}
}
