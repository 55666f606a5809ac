// Package totp keeps the accounts' authenticator apps (TOTP, RFC 6238): enrolment (a secret, its
// otpauth:// URI and a QR code), confirmation with a first code, verification (±1 step, each step
// accepted once) and removal. Secrets are encrypted at rest with AES-GCM under a key id (Keyring),
// bound to their account. It implements auth.Authenticators.
package totp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// Period, digits and skew of every authenticator: what authenticator apps expect by default.
const (
	Period = 30
	Digits = otp.DigitsSix
	Skew   = 1
	// DefaultIssuer names the service in the authenticator app (TOTP_ISSUER).
	DefaultIssuer = "Latchkey"
	qrSize        = 256
)

// Errors of the enrolment.
var (
	// ErrAlreadyEnrolled: the account has a confirmed authenticator; remove it first.
	ErrAlreadyEnrolled = errors.New("totp: an authenticator is already enrolled")
	// ErrNotPending: there is no pending authenticator to confirm (none set up, or already confirmed).
	ErrNotPending = errors.New("totp: no authenticator awaiting confirmation")
	// ErrNotFound: the store has no authenticator for the account.
	ErrNotFound = errors.New("totp: no authenticator")
)

// Record is an account's authenticator as stored.
type Record struct {
	ID          string // fresh for every setup: accepted steps are claimed per enrolment
	AccountID   string
	Secret      Sealed
	Confirmed   bool
	LastStep    int64 // the last step accepted (confirmation included); only later ones are
	CreatedAt   time.Time
	ConfirmedAt time.Time
}

// Store keeps authenticators, at most one per account. Every change is one conditional write.
type Store interface {
	// PutPending stores r (not confirmed), replacing a pending one; ErrAlreadyEnrolled when the
	// account has a confirmed authenticator.
	PutPending(ctx context.Context, r Record) error
	// Get returns the account's authenticator, or ErrNotFound.
	Get(ctx context.Context, accountID string) (Record, error)
	// Confirm confirms the pending authenticator whose ciphertext is ciphertext, with step as its
	// last accepted step; false when nothing matched (replaced, confirmed or removed meanwhile).
	Confirm(ctx context.Context, accountID string, ciphertext []byte, step int64, at time.Time) (bool, error)
	// Advance records step as accepted for the confirmed authenticator r while its last step is
	// lower; false when it is not (of concurrent calls with one step at most one is true).
	Advance(ctx context.Context, r Record, step int64, at time.Time) (bool, error)
	// Delete removes the account's authenticator (pending or confirmed) and reports whether a
	// confirmed one was removed.
	Delete(ctx context.Context, accountID string) (bool, error)
}

// Enrolment is what a setup shows the owner once: the secret (base32), the otpauth:// URI and the
// QR code of the URI as a data:image/png;base64 URL.
type Enrolment struct {
	Secret    string
	URI       string
	QRCodePNG string
}

// Service runs enrolment and verification.
type Service struct {
	store  Store
	keys   *Keyring
	issuer string
}

// New returns a Service; issuer names the service in authenticator apps ("" : DefaultIssuer).
func New(store Store, keys *Keyring, issuer string) *Service {
	if strings.TrimSpace(issuer) == "" {
		issuer = DefaultIssuer
	}
	return &Service{store: store, keys: keys, issuer: issuer}
}

// Setup draws a new secret for the account and stores it pending (replacing a pending one) until
// Confirm. accountName is how the app labels it (the account's e-mail or username).
// ErrAlreadyEnrolled while a confirmed authenticator exists.
func (s *Service) Setup(ctx context.Context, accountID, accountName string, at time.Time) (Enrolment, error) {
	if accountName == "" {
		accountName = accountID
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: accountName, Period: Period, Digits: Digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, fmt.Errorf("totp: generate: %w", err)
	}
	sealed, err := s.keys.Seal(accountID, []byte(key.Secret()))
	if err != nil {
		return Enrolment{}, err
	}
	id, err := newID()
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.store.PutPending(ctx, Record{ID: id, AccountID: accountID, Secret: sealed, CreatedAt: at.UTC()}); err != nil {
		return Enrolment{}, err
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return Enrolment{}, fmt.Errorf("totp: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, fmt.Errorf("totp: qr code: %w", err)
	}
	return Enrolment{
		Secret: key.Secret(), URI: key.URL(),
		QRCodePNG: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// Confirm checks code against the pending authenticator and makes it the account's. False for a
// wrong code; ErrNotPending when there is nothing to confirm.
func (s *Service) Confirm(ctx context.Context, accountID, code string, at time.Time) (bool, error) {
	r, err := s.store.Get(ctx, accountID)
	if errors.Is(err, ErrNotFound) || err == nil && r.Confirmed {
		return false, ErrNotPending
	}
	if err != nil {
		return false, err
	}
	step, ok, err := s.match(r, code, at)
	if err != nil || !ok {
		return false, err
	}
	done, err := s.store.Confirm(ctx, accountID, r.Secret.Ciphertext, step, at.UTC())
	if err != nil {
		return false, err
	}
	if !done {
		return false, ErrNotPending
	}
	return true, nil
}

// Enrolled reports whether the account has a confirmed authenticator (auth.Authenticators).
func (s *Service) Enrolled(ctx context.Context, accountID string) (bool, error) {
	r, err := s.store.Get(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return r.Confirmed, nil
}

// Verify checks code against the confirmed authenticator at `at` (±1 step) and accepts each step
// once: the step must be later than the last accepted one, recorded with one conditional write, so
// of concurrent calls with one code at most one is true (auth.Authenticators).
func (s *Service) Verify(ctx context.Context, accountID, code string, at time.Time) (bool, error) {
	r, err := s.store.Get(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !r.Confirmed {
		return false, nil
	}
	step, ok, err := s.match(r, code, at)
	if err != nil || !ok || step <= r.LastStep {
		return false, err
	}
	return s.store.Advance(ctx, r, step, at.UTC())
}

// Remove deletes the account's authenticator and reports whether a confirmed one was removed.
func (s *Service) Remove(ctx context.Context, accountID string) (bool, error) {
	return s.store.Delete(ctx, accountID)
}

// match returns the step (of at-1, at, at+1) whose code is code, preferring the latest one not yet
// accepted.
func (s *Service) match(r Record, code string, at time.Time) (int64, bool, error) {
	if !ValidCode(code) {
		return 0, false, nil
	}
	raw, err := s.keys.Open(r.AccountID, r.Secret)
	if err != nil {
		return 0, false, err
	}
	secret := string(raw)
	opts := totp.ValidateOpts{Period: Period, Skew: Skew, Digits: Digits, Algorithm: otp.AlgorithmSHA1}
	ok, err := totp.ValidateCustom(code, secret, at, opts)
	if err != nil || !ok {
		return 0, false, nil
	}
	now := at.Unix() / Period
	for _, step := range []int64{now + 1, now, now - 1} {
		if step <= r.LastStep {
			continue
		}
		hit, err := hotp.ValidateCustom(code, uint64(step), secret, hotp.ValidateOpts{Digits: Digits, Algorithm: otp.AlgorithmSHA1})
		if err == nil && hit {
			return step, true, nil
		}
	}
	return 0, false, nil
}

func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("totp: id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidCode reports whether code has the form of an authenticator code (six digits).
func ValidCode(code string) bool {
	if len(code) != Digits.Length() {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
