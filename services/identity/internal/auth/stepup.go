package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// Step-up (DESIGN.md "Security rules", ASVS v5 V7.5): changing or removing an e-mail, a phone, a
// sign-in provider or a 2FA setting, and creating an API key, need a fresh re-authentication — a
// stolen access token alone must never be enough. The proof is the password or a re-authentication
// code in the request body where the documented body has such a field, or else a step-up token:
// POST /api/v1/auth/reauth exchanges a password or code for one, valid a few minutes for several
// changes, and clients send it as X-Reauth-Token.

// Errors of the step-up gate.
var (
	// ErrReauthRequired: the request carries no proof of a fresh re-authentication (or a step-up token
	// that is unknown, expired, or another account's or session's). Nothing was changed.
	ErrReauthRequired = errors.New("re-authentication required")
	// ErrReauthCodeRequired: the change needs a one-time code (disabling 2FA); a password, or a step-up
	// token obtained with one, is not enough.
	ErrReauthCodeRequired = errors.New("re-authentication with a one-time code required")
)

// StepUpTokenPrefix starts every step-up token ("re-authentication token").
const StepUpTokenPrefix = "rat_"

// How a step-up token was obtained (the amr values of RFC 8176).
const (
	MethodPassword = "pwd"
	MethodOTP      = "otp"
)

// DefaultStepUpTTL is how long a step-up token stays valid when Config.StepUpTTL is zero.
const DefaultStepUpTTL = 5 * time.Minute

// maxStepUpToken bounds a presented token before it is hashed and looked up.
const maxStepUpToken = 128

// StepUpToken is a stored step-up token (only its hash: the token itself is shown once).
type StepUpToken struct {
	Hash      string // hex SHA-256 of the token
	AccountID string
	SessionID string // the session of the access token it was issued to; "" for none
	Method    string // MethodPassword or MethodOTP
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// ErrStepUpNotFound is the StepUps store's answer for an unknown token hash.
var ErrStepUpNotFound = errors.New("step-up token not found")

// StepUps keeps step-up tokens and e-mail change reverts.
type StepUps interface {
	// InsertStepUp stores t.
	InsertStepUp(ctx context.Context, t StepUpToken) error
	// StepUpByHash returns the token with the hash, or ErrStepUpNotFound.
	StepUpByHash(ctx context.Context, hash string) (StepUpToken, error)
	// InsertEmailRevert stores r.
	InsertEmailRevert(ctx context.Context, r EmailRevert) error
	// EmailRevertByHash returns the revert with the hash, or ErrEmailRevertInvalid.
	EmailRevertByHash(ctx context.Context, hash string) (EmailRevert, error)
	// ClaimEmailRevert marks the revert with the hash used at `at`; false when it was used already
	// (of concurrent claims exactly one wins).
	ClaimEmailRevert(ctx context.Context, hash string, at time.Time) (bool, error)
	// RestoreEmail makes email the account's verified e-mail again (a projected fact), replacing its
	// password hash with lockedHash when that is set, and records revoke as its pending revocation,
	// all in one write. It reports whether the account matched.
	RestoreEmail(ctx context.Context, accountID, email, lockedHash string, at time.Time, revoke *account.Revocation) (bool, error)
}

// StepUpIssued is a new step-up token.
type StepUpIssued struct {
	Token     string
	ExpiresIn time.Duration
	Method    string
}

// StepUpProof is what a request offers as fresh re-authentication: the X-Reauth-Token header
// (Caller.StepUpToken) and the proof fields of its body, either of which may be empty.
type StepUpProof struct {
	Token string
	Proof Proof
}

func (s *Service) stepUpTTL() time.Duration {
	if s.cfg.StepUpTTL > 0 {
		return s.cfg.StepUpTTL
	}
	return DefaultStepUpTTL
}

// IssueStepUp re-authenticates the caller with a password or a re-authentication code (POST
// /api/v1/auth/reauth) under the login's and the codes' throttles, and returns a step-up token bound
// to the caller's account and session. Errors: ErrAccountGone, ErrWrongPassword, ErrInvalidCode,
// *throttle.ExceededError.
func (s *Service) IssueStepUp(ctx context.Context, c Caller, p Proof) (StepUpIssued, error) {
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return StepUpIssued{}, err
	}
	method, err := s.reauthenticateStepUp(ctx, a, c, p)
	if err != nil {
		return StepUpIssued{}, err
	}
	raw, err := newStepUpSecret(StepUpTokenPrefix)
	if err != nil {
		return StepUpIssued{}, err
	}
	now := s.now().UTC()
	ttl := s.stepUpTTL()
	t := StepUpToken{Hash: hashSecret(raw), AccountID: a.ID, SessionID: c.SessionID, Method: method, IssuedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.StepUps.InsertStepUp(ctx, t); err != nil {
		return StepUpIssued{}, fmt.Errorf("store step-up token: %w", err)
	}
	s.Logger.InfoContext(ctx, "step-up issued", "account_id", a.ID, "method", method)
	return StepUpIssued{Token: raw, ExpiresIn: ttl, Method: method}, nil
}

// CheckStepUp returns the method of raw when it is a live step-up token of the account — and, when
// it was issued to a session, of that same session (sessionID). Anything else is ErrReauthRequired.
func (s *Service) CheckStepUp(ctx context.Context, accountID, sessionID, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > maxStepUpToken || !strings.HasPrefix(raw, StepUpTokenPrefix) || s.StepUps == nil {
		return "", ErrReauthRequired
	}
	t, err := s.StepUps.StepUpByHash(ctx, hashSecret(raw))
	if errors.Is(err, ErrStepUpNotFound) {
		return "", ErrReauthRequired
	}
	if err != nil {
		return "", fmt.Errorf("find step-up token: %w", err)
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(t.AccountID), []byte(accountID)) != 1:
		return "", ErrReauthRequired
	case t.SessionID != "" && t.SessionID != sessionID:
		return "", ErrReauthRequired
	case !s.now().Before(t.ExpiresAt):
		return "", ErrReauthRequired
	}
	return t.Method, nil
}

// RequireFreshAuth is the step-up gate: nil when the caller has just re-authenticated — a live
// step-up token of its account and session, or a good password or code in p.Proof. With needCode only
// a code counts (p.Proof.OTP, or a token obtained with one). It runs before any side effect of the
// change it guards. Errors: ErrReauthRequired, ErrReauthCodeRequired, and the re-authentication errors
// of a body proof (ErrWrongPassword, ErrInvalidCode, *throttle.ExceededError, ErrAccountGone).
func (s *Service) RequireFreshAuth(ctx context.Context, c Caller, p StepUpProof, needCode bool) error {
	a, err := s.activeAccount(ctx, c.AccountID)
	if err != nil {
		return err
	}
	return s.requireFresh(ctx, a, c, p, needCode)
}

func (s *Service) requireFresh(ctx context.Context, a account.Account, c Caller, p StepUpProof, needCode bool) error {
	if strings.TrimSpace(p.Token) != "" {
		method, err := s.CheckStepUp(ctx, a.ID, c.SessionID, p.Token)
		switch {
		case err == nil && needCode && !possessionMethod(method):
			if p.Proof.OTP == "" {
				return ErrReauthCodeRequired
			}
		case err == nil:
			return nil
		case !errors.Is(err, ErrReauthRequired):
			return err
		}
		// An unusable token: the body's proof, if any, still counts.
	}
	switch {
	case needCode && p.Proof.OTP == "" && (p.Proof.Password != "" || p.Token != ""):
		return ErrReauthCodeRequired
	case needCode && p.Proof.OTP == "":
		return ErrReauthRequired
	case needCode:
		return s.reauthenticate(ctx, a, Proof{OTP: p.Proof.OTP}, c.IP)
	case p.Proof.Password == "" && p.Proof.OTP == "":
		return ErrReauthRequired
	}
	return s.reauthenticate(ctx, a, p.Proof, c.IP)
}

// newStepUpSecret returns prefix + 32 random bytes (crypto/rand), base64url.
func newStepUpSecret(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// hashSecret is the stored form of a random token: its SHA-256 in hex. A fast hash is right for 256
// random bits (see package apikey).
func hashSecret(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}
