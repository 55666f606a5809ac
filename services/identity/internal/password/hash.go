// Package password is the one place that knows how passwords are hashed and which passwords are
// acceptable. Every path that sets or checks a password (registration, login, and later change and
// reset) goes through it, so the rules cannot drift between endpoints.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/latchkey/latchkey/services/identity/internal/password/argon2id"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32 // m, in KiB
	Iterations  uint32 // t
	Parallelism uint8  // p
	SaltLen     uint32 // bytes
	KeyLen      uint32 // bytes
}

// DefaultParams are OWASP's recommended minimum for argon2id: m=19 MiB, t=2, p=1.
var DefaultParams = Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters read back from a stored hash: a corrupted or hostile record must not make a
// login allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB  = 1 << 20 // 1 GiB
	maxIterations = 64
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 128
)

// ErrMalformedHash means a stored hash is not a PHC-encoded argon2id string this package can verify.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// Hasher hashes and verifies passwords with argon2id, encoded as PHC strings
// ($argon2id$v=19$m=19456,t=2,p=1$salt$hash).
type Hasher struct {
	params Params
	dummy  string         // hash of a random password: login verifies against it when there is no account
	gate   *gate          // bounds concurrent derivations, and so the memory they hold
	memory *argon2id.Pool // their working memory: one workspace per gate slot, kept between derivations

	derivations atomic.Uint64 // argon2id key derivations done
	cost        atomic.Uint64 // their memory (KiB) × iterations × parallelism, summed
}

// Work is the argon2id work a Hasher has done since it was made. Flows that must cost the same
// whatever the outcome (login for an unknown account and for a wrong password) compare it in tests,
// instead of measuring time.
type Work struct {
	Derivations uint64 // argon2id key derivations
	Cost        uint64 // memory (KiB) × iterations × parallelism, summed over them
}

// Work returns the work done so far.
func (h *Hasher) Work() Work {
	return Work{Derivations: h.derivations.Load(), Cost: h.cost.Load()}
}

// PeakConcurrent is the most argon2id derivations that ever ran at once in h: never more than the
// Concurrency's MaxHashes.
func (h *Hasher) PeakConcurrent() int { return int(h.gate.peak.Load()) }

// Hold takes one hashing slot, as a derivation does, until release is called, so that a test or a
// load probe can see what requests meet while hashing is saturated. Like a derivation it waits in
// the queue and fails with a *BusyError when no slot frees in time.
func (h *Hasher) Hold() (release func(), err error) {
	if err := h.gate.acquire(); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(h.gate.release) }, nil
}

// ArgonMemory is what the argon2id working memory pool has allocated: never more workspaces than
// the Concurrency's MaxHashes, each of the Hasher's MemoryKiB.
func (h *Hasher) ArgonMemory() argon2id.Stats { return h.memory.Stats() }

// derive is argon2id.IDKey (byte for byte x/crypto/argon2.IDKey), counted in Work, run under the
// concurrency bound (*BusyError when no slot frees in time).
//
// Its working memory comes from h.memory, a pool of MaxHashes workspaces of the Hasher's MemoryKiB:
// the gate lets at most MaxHashes derivations run, and each returns its workspace before it
// releases its slot, so a derivation always finds one free and no more than MaxHashes are ever
// allocated. A stored hash with less memory (older, weaker parameters) runs in a prefix of a
// workspace; one with more (parameters lowered since it was made) allocates memory for that
// derivation alone, as x/crypto did, and the garbage collector takes it back.
func (h *Hasher) derive(plain string, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	if err := h.gate.acquire(); err != nil {
		return nil, err
	}
	defer h.gate.release()
	h.derivations.Add(1)
	h.cost.Add(uint64(p.MemoryKiB) * uint64(p.Iterations) * uint64(p.Parallelism))
	return h.memory.IDKey([]byte(plain), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen), nil
}

// NewHasher returns a Hasher that hashes new passwords with p, with the default Concurrency. Zero
// salt or key lengths take the defaults.
func NewHasher(p Params) (*Hasher, error) { return NewBoundedHasher(p, Concurrency{}) }

// NewBoundedHasher is NewHasher with the concurrency bound c (zero fields take the defaults).
func NewBoundedHasher(p Params, c Concurrency) (*Hasher, error) {
	if p.SaltLen == 0 {
		p.SaltLen = DefaultParams.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = DefaultParams.KeyLen
	}
	if p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxMemoryKiB || p.Iterations < 1 ||
		p.Iterations > maxIterations || p.Parallelism < 1 || p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen ||
		p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen {
		return nil, fmt.Errorf("argon2id parameters out of range: m=%d t=%d p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
	}
	g := newGate(c)
	h := &Hasher{params: p, gate: g, memory: argon2id.NewPool(g.cfg.MaxHashes, p.MemoryKiB)}
	var random [24]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, fmt.Errorf("random dummy password: %w", err)
	}
	dummy, err := h.Hash(base64.RawStdEncoding.EncodeToString(random[:]))
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	h.derivations.Store(0) // Work counts from here: the dummy hash is set-up, not a flow's work
	h.cost.Store(0)
	return h, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC encoding of an argon2id hash of plain's NFKC form (Normalize) with a fresh
// random salt.
func (h *Hasher) Hash(plain string) (string, error) {
	plain = Normalize(plain)
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("random salt: %w", err)
	}
	key, err := h.derive(plain, salt, h.params, h.params.KeyLen)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether plain matches encoded, comparing in constant time. needsRehash is true when
// the password matched but encoded was made with weaker parameters than the Hasher's: the caller
// should store a fresh Hash so stored hashes follow parameter upgrades.
//
// plain is compared in its NFKC form (Normalize). Hashes stored before normalisation hold the raw
// form of what the user typed, which differs only for passwords that NFKC changes (some accented,
// full-width or compatibility characters): for those, when the NFKC form does not match, the raw
// form is tried too, and a match through it reports needsRehash, so the caller stores the
// normalised hash and the fallback dies out account by account. A wrong password of that kind then
// costs two derivations — the same for a known and an unknown account (VerifyDummy goes through
// here too). err is ErrMalformedHash for
// an unreadable encoded, or a *BusyError (errors.Is ErrBusy) when hashing is saturated: the caller
// must answer 503 then, not treat it as a wrong password.
func (h *Hasher) Verify(plain, encoded string) (ok, needsRehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	normal := Normalize(plain)
	got, err := h.derive(normal, salt, p, uint32(len(want)))
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		if normal == plain {
			return false, false, nil
		}
		if got, err = h.derive(plain, salt, p, uint32(len(want))); err != nil {
			return false, false, err
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return false, false, nil
		}
		return true, true, nil // stored before normalisation: store the NFKC hash now
	}
	weaker := p.MemoryKiB < h.params.MemoryKiB || p.Iterations < h.params.Iterations ||
		uint32(len(want)) < h.params.KeyLen || uint32(len(salt)) < h.params.SaltLen
	return true, weaker, nil
}

// VerifyDummy spends the time of one Verify and always fails. Login calls it when the account does
// not exist (or has no password) so that an unknown user and a wrong password take the same time.
// Its only error is a *BusyError, which the caller returns like Verify's: an unknown account must be
// refused for load exactly when a known one would be.
func (h *Hasher) VerifyDummy(plain string) error {
	_, _, err := h.Verify(plain, h.dummy)
	return err
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2id.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decode(encoded string) (Params, []byte, []byte, error) {
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || parts[2] != fmt.Sprintf("v=%d", argon2id.Version) {
		return Params{}, nil, nil, ErrMalformedHash
	}
	var p Params
	// Sscanf ignores trailing input; printing the values back must reproduce the field exactly.
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism) {
		return Params{}, nil, nil, ErrMalformedHash
	}
	if p.Parallelism < 1 || p.MemoryKiB < 8*uint32(p.Parallelism) || p.MemoryKiB > maxMemoryKiB ||
		p.Iterations < 1 || p.Iterations > maxIterations {
		return Params{}, nil, nil, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return Params{}, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return Params{}, nil, nil, ErrMalformedHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
