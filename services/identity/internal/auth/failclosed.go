package auth

import (
	"errors"

	"github.com/latchkey/latchkey/services/identity/internal/account"
)

// Errors of fail-closed sign-in (DESIGN.md, "Fail closed"): a check that cannot be made refuses the
// sign-in, it never lets it through. Both come only after the password (or the provider) was proven,
// so they tell nothing to someone who does not hold the credential.
var (
	// ErrNoSecondFactor: the account has a second factor on, but no method it can answer with (codes
	// on without a verified e-mail or phone, and no authenticator app, passkey or recovery code). The
	// owner recovers the account (password reset by e-mail or support).
	ErrNoSecondFactor = errors.New("two-factor authentication is on but no verified email or phone can receive a code")
	// ErrNoDeviceVerification: the device is not trusted and the account has no verified e-mail or
	// phone to send the device-verification code to.
	ErrNoDeviceVerification = errors.New("new device cannot be verified: no verified email or phone can receive a code")
)

// deviceVerificationAvailable is nil when a device-verification code can be sent to the owner of a.
func deviceVerificationAvailable(a account.Account) error {
	if !a.HasVerifiedChannel() {
		return ErrNoDeviceVerification
	}
	return nil
}
