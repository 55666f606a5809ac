package auth

import (
	"context"
	"encoding/json"
	"time"
)

// Second-factor methods, as the two_factor challenge lists them (strongest first) and verify-2fa and
// step-up name them. The code methods are the channels of POST /api/v1/account/2fa/enable.
const (
	FactorWebAuthn     = "webauthn"
	FactorTOTP         = "totp"
	FactorRecoveryCode = "recovery_code"
	FactorEmail        = "email"
	FactorWhatsApp     = "whatsapp"
	FactorSMS          = "sms"
)

// Authenticators are the accounts' authenticator apps (TOTP, RFC 6238); package totp implements it.
type Authenticators interface {
	// Enrolled reports whether the account has a confirmed authenticator.
	Enrolled(ctx context.Context, accountID string) (bool, error)
	// Verify checks code against the account's confirmed authenticator at `at` (±1 step). A code of a
	// step already accepted is refused (replay); of concurrent calls with one code at most one is true.
	Verify(ctx context.Context, accountID, code string, at time.Time) (bool, error)
}

// RecoveryCodes are the accounts' single-use recovery codes; package recovery implements it.
type RecoveryCodes interface {
	// Remaining returns how many unused codes the account has.
	Remaining(ctx context.Context, accountID string) (int, error)
	// Redeem consumes the account's unused code equal to code; false when none is. Of concurrent calls
	// with one code at most one is true.
	Redeem(ctx context.Context, accountID, code string, at time.Time) (bool, error)
}

// Passkeys are the accounts' WebAuthn credentials as the sign-in and step-up flows use them; package
// passkey implements it.
type Passkeys interface {
	// Count returns how many passkeys the account has.
	Count(ctx context.Context, accountID string) (int, error)
	// BeginAssertion starts an assertion ceremony over the account's passkeys, bound to binding (a
	// two-factor challenge or a step-up of one session), and returns the options the client passes to
	// navigator.credentials.get (the CredentialAssertion JSON: {"publicKey": {...}}).
	BeginAssertion(ctx context.Context, accountID, binding string) (json.RawMessage, error)
	// FinishAssertion checks assertion (the PublicKeyCredential JSON) against the ceremony bound to
	// binding, which it consumes, and returns the amr values it proves (AMRHardwareKey or
	// AMRSoftwareKey, plus AMRUser when the user was verified); ok is false when it does not verify.
	FinishAssertion(ctx context.Context, accountID, binding string, assertion json.RawMessage) (amr []string, ok bool, err error)
}
