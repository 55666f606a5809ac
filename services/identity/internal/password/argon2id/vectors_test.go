package argon2id

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Internal tests: RFC 9106's Argon2id vector needs a secret and associated data, which IDKey does
// not take, and the generic (non-assembly) block function is switched on by hand.

// rfc9106 is the Argon2id test vector of RFC 9106 section 5.3.
var rfc9106 = struct {
	password, salt, secret, ad []byte
	time, memory               uint32
	threads                    uint8
	tag                        string
}{
	password: bytes.Repeat([]byte{0x01}, 32),
	salt:     bytes.Repeat([]byte{0x02}, 16),
	secret:   bytes.Repeat([]byte{0x03}, 8),
	ad:       bytes.Repeat([]byte{0x04}, 12),
	time:     3, memory: 32, threads: 4,
	tag: "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
}

// phcVectors are x/crypto's Argon2id vectors from the reference implementation's CLI
// (password "password", salt "somesalt").
var phcVectors = []struct {
	time, memory uint32
	threads      uint8
	hash         string
}{
	{1, 64, 1, "655ad15eac652dc59f7170a7332bf49b8469be1fdb9c28bb"},
	{2, 64, 1, "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7"},
	{2, 64, 2, "350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362"},
	{3, 256, 2, "4668d30ac4187e6878eedeacf0fd83c5a0a30db2cc16ef0b"},
	{4, 4096, 4, "145db9733a9f4ee43edf33c509be96b934d505a4efb33c5a"},
	{4, 1024, 8, "8dafa8e004f8ea96bf7c0f93eecf67a6047476143d15577f"},
	{2, 64, 3, "4a15b31aec7c2590b87d1f520be7d96f56658172deaa3079"},
	{3, 1024, 6, "1640b932f4b60e272f5d2207b9a9c626ffa1bd88d2349016"},
}

// dirty returns n blocks full of a non-zero pattern, as memory left by an earlier derivation is.
func dirty(n uint32) []block {
	mem := make([]block, n)
	for i := range mem {
		for j := range mem[i] {
			mem[i][j] = 0x9e3779b97f4a7c15 * uint64(i*blockLength+j+1)
		}
	}
	return mem
}

func TestKnownAnswers(t *testing.T) {
	// Not parallel: it switches the package's SSE4 flag.
	defer func(sse4 bool) { useSSE4 = sse4 }(useSSE4)
	impls := []bool{false}
	if useSSE4 {
		impls = append(impls, true)
	}
	for _, sse4 := range impls {
		useSSE4 = sse4
		for _, clean := range []bool{true, false} {
			mem := func(n uint32) []block {
				if clean {
					return make([]block, n)
				}
				return dirty(n + 7) // bigger than needed, and dirty: only a prefix is used
			}
			v := rfc9106
			got := hex.EncodeToString(deriveKey(argon2id, mem(blocksFor(v.memory, v.threads)), v.password, v.salt, v.secret, v.ad,
				v.time, v.memory, v.threads, uint32(len(v.tag)/2)))
			if got != v.tag {
				t.Errorf("sse4=%v clean=%v: RFC 9106 Argon2id tag = %s, want %s", sse4, clean, got, v.tag)
			}
			for _, pv := range phcVectors {
				got := hex.EncodeToString(deriveKey(argon2id, mem(blocksFor(pv.memory, pv.threads)), []byte("password"), []byte("somesalt"),
					nil, nil, pv.time, pv.memory, pv.threads, uint32(len(pv.hash)/2)))
				if got != pv.hash {
					t.Errorf("sse4=%v clean=%v: t=%d m=%d p=%d: got %s, want %s", sse4, clean, pv.time, pv.memory, pv.threads, got, pv.hash)
				}
			}
		}
	}
}

// The failure the first-pass overwrite prevents: x/crypto's first pass XORs into each block, which is
// right only on zeroed memory. Here the pooled workspace is filled with garbage before the derivation.
func TestReusedDirtyMemory(t *testing.T) {
	t.Parallel()
	p := NewPool(1, 64)
	want := p.IDKey([]byte("password"), []byte("somesalt"), 2, 64, 1, 24)
	if hex.EncodeToString(want) != "068d62b26455936aa6ebe60060b0a65870dbfa3ddf8d41f7" {
		t.Fatalf("fresh workspace: got %x", want)
	}
	w := p.get(64)
	copy(w.blocks, dirty(uint32(len(w.blocks))))
	p.put(w)
	if got := p.IDKey([]byte("password"), []byte("somesalt"), 2, 64, 1, 24); !bytes.Equal(got, want) {
		t.Errorf("dirty reused workspace: got %x, want %x", got, want)
	}
	if s := p.Stats(); s.Workspaces != 1 || s.OneOff != 0 {
		t.Errorf("stats = %+v, want one workspace, no one-off memory", s)
	}
}
