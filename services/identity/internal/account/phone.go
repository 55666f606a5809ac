package account

import "errors"

// ErrPhoneTaken: the phone number is verified on another account.
var ErrPhoneTaken = errors.New("phone number already in use")
