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
	Timezone   string // IANA time zone the client reports, e.g. "Europe/Berlin"; may be empty
}

// Sign-in methods recorded as a device's last one (LastLoginMethod); a provider sign-in records
// MethodOAuthPrefix + the provider, e.g. "oauth:github".
const (
	MethodPassword    = "password"
	MethodOTP         = "otp"
	MethodOAuthPrefix = "oauth:"
)

// SignIn is a sign-in to record on the device it happened on.
type SignIn struct {
	AccountID string
	DeviceID  string
	SessionID string
	IP        string
	UserAgent string
	Location  string // approximate, from the trusted ingress (LOCATION_HEADER); may be empty
	Method    string // MethodPassword, MethodOTP, or MethodOAuthPrefix + provider
	Timezone  string // may be empty
	At        time.Time
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
	// Also of the latest sign-in: its approximate location, its method, and the client's time zone
	// (the latest one the device reported).
	LastLocation    string
	LastLoginMethod string
	Timezone        string
	// RevokedAt is when the owner revoked the device (zero while trusted). A revoked device is kept,
	// for the device list's include_inactive, but is not trusted: its next sign-in is verified again.
	RevokedAt time.Time
}

// Active reports whether the device is still trusted.
func (d TrustedDevice) Active() bool { return d.RevokedAt.IsZero() }

// ErrNotFound means the device is not trusted by the account.
var ErrNotFound = errors.New("trusted device not found")
