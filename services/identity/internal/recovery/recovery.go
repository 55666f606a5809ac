// Package recovery keeps the accounts' recovery codes: single-use codes, shown once when a set is
// generated, that stand in for a second factor the owner has lost (auth.RecoveryCodes).
//
// A set is SetSize codes of CodeLength symbols from Crockford's base-32 alphabet (0-9 and a-z without
// i, l, o, u), drawn from crypto/rand: 5 bits a symbol, 50 bits a code. They are shown lower-case in
// two groups ("abcde-fghij"); input is accepted in any case, with or without the dash and spaces, and
// with Crockford's readings of the look-alikes (o as 0, i and l as 1).
//
// Only HMAC-SHA256(key, setId|code) is stored, the key being derived from a server secret that is not
// in the database. A fast keyed hash is right here, unlike for passwords: a code is uniformly random
// with 50 bits of entropy (not chosen by a person), so there is no dictionary to try, and without the
// key a stolen database gives an attacker nothing to test guesses against offline; online, guesses
// are throttled by the sign-in flow and need the password first. A slow hash (argon2id) would only
// make every redemption cost ten derivations (a code is checked against each of the set's hashes)
// and hand attackers a way to load the service.
//
// An account has one live set, the newest generation; regenerating makes a new one the live one and
// the old codes stop working at once. A redemption is claimed by inserting a use document with a
// unique _id (setId|hash) — atomic on MongoDB and on FerretDB alike, whose conditional updates are a
// read followed by a write — so of concurrent redemptions of one code exactly one wins; it then
// counts only when its set is still the live one, checked after the claim, so a redemption racing a
// regeneration never succeeds once the new set exists (and so before it was shown).
package recovery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// SetSize is the number of codes in a set; CodeLength the symbols of a code (50 bits of entropy).
const (
	SetSize    = 10
	CodeLength = 10
)

// alphabet is Crockford's base 32 in lower case: no i, l, o (look-alikes of 1 and 0) and no u.
const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// Set is an account's set of codes as stored: only their hashes.
type Set struct {
	AccountID string
	// ID is random and names the set in the hashes and the use claims, so nothing of an old set can
	// ever match a new one; Generation orders an account's sets (the highest is the live one).
	ID          string
	Generation  int64
	Hashes      []string
	GeneratedAt time.Time
}

// Store keeps the sets and the claims of used codes; package store implements it on MongoDB.
type Store interface {
	// Live returns the account's newest set; found is false when it has none.
	Live(ctx context.Context, accountID string) (set Set, found bool, err error)
	// Insert stores s, or answers ErrGenerationTaken when the account has a set of that generation.
	Insert(ctx context.Context, s Set) error
	// DeleteBefore removes the account's sets older than generation, and their claims.
	DeleteBefore(ctx context.Context, accountID string, generation int64) error
	// Claim records the use of the code with hash in set s at `at`; false when it was used already.
	// Of concurrent claims of one code exactly one is true.
	Claim(ctx context.Context, s Set, hash string, at time.Time) (bool, error)
	// Used counts the claims of set s.
	Used(ctx context.Context, s Set) (int, error)
	// LastUse returns when a code of set s was last claimed (zero: none was).
	LastUse(ctx context.Context, s Set) (time.Time, error)
}

// ErrGenerationTaken: another set of the generation was stored first (a concurrent regeneration).
var ErrGenerationTaken = errors.New("recovery code generation taken")

// Service generates and redeems recovery codes.
type Service struct {
	key   []byte
	store Store
}

// New returns a Service storing in store and hashing codes with key (see KeyFrom).
func New(key []byte, store Store) *Service {
	return &Service{key: key, store: store}
}

// KeyFrom derives the hashing key of recovery codes from a server secret (the identity service's
// OTP_PEPPER), so the codes' hashes can never be confused with the secret's other uses.
func KeyFrom(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("latchkey recovery codes v1"))
	return m.Sum(nil)
}

// Generate returns a set of SetSize distinct codes, formatted for display.
func Generate() ([]string, error) {
	codes := make([]string, 0, SetSize)
	seen := map[string]bool{}
	for len(codes) < SetSize {
		var b [CodeLength]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("random recovery code: %w", err)
		}
		raw := make([]byte, CodeLength)
		for i, x := range b {
			raw[i] = alphabet[x&31] // 256 is a multiple of 32: every symbol equally likely
		}
		if seen[string(raw)] {
			continue // one in 2^50: a set never holds one code twice
		}
		seen[string(raw)] = true
		codes = append(codes, Format(string(raw)))
	}
	return codes, nil
}

// Format shows a normalized code in two groups of five: "abcde-fghij".
func Format(code string) string {
	if len(code) != CodeLength {
		return code
	}
	return code[:CodeLength/2] + "-" + code[CodeLength/2:]
}

// Normalize turns what a person typed into the canonical code: lower case, without dashes and
// white space, with o read as 0 and i, l as 1. ok is false when the result cannot be a code.
func Normalize(input string) (code string, ok bool) {
	if len(input) > 4*CodeLength { // whatever the spacing, far longer is no code
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToLower(input) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(alphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != CodeLength {
		return "", false
	}
	return b.String(), true
}

// Hash is what is stored of a normalized code of set setID: HMAC-SHA256(key, setID|code), hex.
func (s *Service) Hash(setID, code string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(setID + "|" + code))
	return hex.EncodeToString(m.Sum(nil))
}

// maxReplaceTries bounds the retries of a regeneration racing others of the same account.
const maxReplaceTries = 5

// Replace makes a fresh set the account's live one and returns its codes (formatted; they are shown
// once and never again). Every code of the previous set stops working as soon as the new set is
// stored, which happens before this returns.
func (s *Service) Replace(ctx context.Context, accountID string, at time.Time) ([]string, error) {
	for try := 0; try < maxReplaceTries; try++ {
		live, found, err := s.store.Live(ctx, accountID)
		if err != nil {
			return nil, err
		}
		next := int64(1)
		if found {
			next = live.Generation + 1
		}
		codes, err := Generate()
		if err != nil {
			return nil, err
		}
		id, err := newSetID()
		if err != nil {
			return nil, err
		}
		set := Set{AccountID: accountID, ID: id, Generation: next, GeneratedAt: at.UTC()}
		for _, c := range codes {
			n, _ := Normalize(c)
			set.Hashes = append(set.Hashes, s.Hash(id, n))
		}
		err = s.store.Insert(ctx, set)
		if errors.Is(err, ErrGenerationTaken) {
			continue // another regeneration stored that generation first: build on it
		}
		if err != nil {
			return nil, err
		}
		// The old sets are dead already (only the newest counts); removing them just tidies up.
		_ = s.store.DeleteBefore(ctx, accountID, next)
		return codes, nil
	}
	return nil, fmt.Errorf("replace recovery codes of %s: %w", accountID, ErrGenerationTaken)
}

// Clear removes every recovery code of the account (for when its last second factor goes): a
// redemption racing it fails, and a later Replace starts a new set.
func (s *Service) Clear(ctx context.Context, accountID string) error {
	return s.store.DeleteBefore(ctx, accountID, math.MaxInt64)
}

// Remaining returns how many unused codes the account's live set has (0 without a set).
func (s *Service) Remaining(ctx context.Context, accountID string) (int, error) {
	live, found, err := s.store.Live(ctx, accountID)
	if err != nil || !found {
		return 0, err
	}
	used, err := s.store.Used(ctx, live)
	if err != nil {
		return 0, err
	}
	return max(len(live.Hashes)-used, 0), nil
}

// LastUsed returns when a code of the account's live set was last redeemed (zero: never, or no set).
func (s *Service) LastUsed(ctx context.Context, accountID string) (time.Time, error) {
	live, found, err := s.store.Live(ctx, accountID)
	if err != nil || !found {
		return time.Time{}, err
	}
	return s.store.LastUse(ctx, live)
}

// Redeem consumes the account's unused code equal to code (in any accepted spelling); false when
// there is none. Of concurrent calls with one code at most one is true, and none is true once a
// newer set has been stored.
func (s *Service) Redeem(ctx context.Context, accountID, code string, at time.Time) (bool, error) {
	n, ok := Normalize(code)
	if !ok {
		return false, nil
	}
	live, found, err := s.store.Live(ctx, accountID)
	if err != nil || !found {
		return false, err
	}
	h := s.Hash(live.ID, n)
	match := 0
	for _, stored := range live.Hashes {
		// Every stored hash is compared, in constant time: the answer's timing says nothing about
		// which code (or how much of one) matched.
		match |= subtle.ConstantTimeCompare([]byte(h), []byte(stored))
	}
	if match == 0 {
		return false, nil
	}
	claimed, err := s.store.Claim(ctx, live, h, at)
	if err != nil || !claimed {
		return false, err
	}
	// The claim counts only while its set is still the live one: a regeneration that stored a new
	// set before this point has shown (or is about to show) codes that must be the only valid ones.
	now, found, err := s.store.Live(ctx, accountID)
	if err != nil {
		return false, err
	}
	return found && now.ID == live.ID, nil
}

func newSetID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random recovery set id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
