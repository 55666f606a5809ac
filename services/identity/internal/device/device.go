// Package device is about the devices an account signs in from: the description a client gives of
// itself, and the devices the owner has proven to control (trusted devices), which may sign in
// without a new-device verification code.
package device

import (
	"errors"
	"time"
)

// Info is what a client says about the device it runs on.
type Info struct {
	DeviceID   string // client-side device fingerprint
	DeviceName string // human-readable, e.g. "iPhone 15 Pro"
	Platform   string // IOS, ANDROID, WEB, ...
}

// TrustedDevice is a device the owner verified (by registering on it or with a device-verification
// code). One per (account, device id).
type TrustedDevice struct {
	ID         string // UUID; the "device key id" of the account API
	AccountID  string
	DeviceID   string
	DeviceName string
	Platform   string
	CreatedAt  time.Time
	LastUsedAt time.Time
	// Of the latest sign-in on the device (empty until one is recorded).
	LastIP     string
	UserAgent  string
	LoginCount int
}

// ErrNotFound means the device is not trusted by the account.
var ErrNotFound = errors.New("trusted device not found")
