package password_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// The memory failure this prevents: every derivation allocating its own m KiB, so that a burst of
// logins left the heap several times larger than the derivations running. Far more concurrent
// hashes and checks than MaxHashes (start-up's dummy hash and unknown-account checks included)
// allocate working memory for MaxHashes derivations, once, and nothing per derivation.
func TestHashingAllocatesAtMostMaxHashesWorkspaces(t *testing.T) {
	t.Parallel()
	const maxHashes = 2
	params := password.Params{MemoryKiB: 256, Iterations: 1, Parallelism: 1}
	h, err := password.NewBoundedHasher(params, password.Concurrency{MaxHashes: maxHashes, MaxQueue: 1000, MaxWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st := h.ArgonMemory(); st.Workspaces != 1 || st.OneOff != 0 {
		t.Fatalf("after start-up's dummy hash: %+v, want one workspace", st)
	}
	encoded, err := h.Hash("mauve lantern quietly hums")
	if err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range errs {
		wg.Go(func() {
			<-start
			switch i % 3 {
			case 0:
				_, errs[i] = h.Hash("mauve lantern quietly hums")
			case 1:
				errs[i] = h.VerifyDummy("mauve lantern quietly hums")
			default:
				if ok, _, err := h.Verify("mauve lantern quietly hums", encoded); err != nil || !ok {
					errs[i] = errors.Join(err, errors.New("verify: no match"))
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	st := h.ArgonMemory()
	if st.Workspaces < 1 || st.Workspaces > maxHashes || st.OneOff != 0 {
		t.Errorf("after 60 concurrent derivations with MaxHashes=%d: %+v, want 1..%d workspaces and no one-off memory", maxHashes, st, maxHashes)
	}
	if st.Bytes != int64(st.Workspaces)*256*1024 {
		t.Errorf("workspaces hold %d bytes, want %d × 256 KiB", st.Bytes, st.Workspaces)
	}
}

// Stored hashes made with other memory sizes than the Hasher's still verify: a smaller one in the
// pooled memory, a bigger one in memory of its own (not kept).
func TestVerifyOtherMemorySizes(t *testing.T) {
	t.Parallel()
	h, err := password.NewBoundedHasher(password.Params{MemoryKiB: 256, Iterations: 1, Parallelism: 1}, password.Concurrency{MaxHashes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		memoryKiB uint32
		oneOff    int64
	}{
		{"smaller", 64, 0},
		{"bigger", 1024, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other, err := password.NewBoundedHasher(password.Params{MemoryKiB: tc.memoryKiB, Iterations: 1, Parallelism: 1}, password.Concurrency{})
			if err != nil {
				t.Fatal(err)
			}
			encoded, err := other.Hash("mauve lantern quietly hums")
			if err != nil {
				t.Fatal(err)
			}
			before := h.ArgonMemory()
			if ok, _, err := h.Verify("mauve lantern quietly hums", encoded); err != nil || !ok {
				t.Fatalf("verify m=%d: ok %v err %v", tc.memoryKiB, ok, err)
			}
			if ok, _, _ := h.Verify("mauve lantern quietly hum", encoded); ok {
				t.Errorf("a wrong password matched m=%d", tc.memoryKiB)
			}
			after := h.ArgonMemory()
			if after.Workspaces != 1 || after.OneOff-before.OneOff != 2*tc.oneOff {
				t.Errorf("m=%d: %+v before, %+v after; want one workspace and %d one-off derivations", tc.memoryKiB, before, after, 2*tc.oneOff)
			}
		})
	}
}

// A PHC string from the Hasher is what x/crypto/argon2 computes for the same password and salt.
func TestHashIsXCryptoArgon2id(t *testing.T) {
	t.Parallel()
	h, err := password.NewBoundedHasher(password.Params{MemoryKiB: 1024, Iterations: 2, Parallelism: 1}, password.Concurrency{MaxHashes: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"mauve lantern quietly hums", "zq7vbn3k-lamp", "correct-Horse-42-staple"} {
		encoded, err := h.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(encoded, "$")
		salt, key := mustB64(t, parts[4]), mustB64(t, parts[5])
		if want := argon2.IDKey([]byte(pw), salt, 2, 1024, 1, uint32(len(key))); string(want) != string(key) {
			t.Errorf("%q: key %x, x/crypto %x", pw, key, want)
		}
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
