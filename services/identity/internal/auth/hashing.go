package auth

import (
	"errors"

	"github.com/latchkey/latchkey/services/identity/internal/password"
)

// hashingBusy reports whether err is the password hasher refusing work under load (a
// *password.BusyError): flows return it as is (503 with Retry-After), never count it as a wrong
// password.
func hashingBusy(err error) bool { return errors.Is(err, password.ErrBusy) }
