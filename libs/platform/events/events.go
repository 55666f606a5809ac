// Package events defines the Kafka topics and event types the Latchkey services exchange.
//
// Every event travels in the same Envelope: eventId is the idempotency key consumers de-duplicate on,
// accountId is the message key (so one account's events stay in order on one partition), and the
// payload is one of the structs below, selected by Type. Topic names are versioned; a deployment may
// put a prefix in front of them (KAFKA_TOPIC_PREFIX) to share a cluster.
package events

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// Topic names (without the deployment prefix).
const (
	TopicOTPDispatch    = "otp.dispatch.v1"
	TopicAccountEvents  = "account.events.v1"
	TopicSessionEvents  = "session.events.v1"
	TopicProfileEvents  = "profile.events.v1"
	TopicOTPDispatchDLQ = "otp.dispatch.v1.dlq"
	// TopicAccountEventsDLQ holds the security alerts of TopicAccountEvents that could not be delivered.
	TopicAccountEventsDLQ = "account.events.v1.dlq"
	// TopicOTPDispatchRetry and TopicAccountEventsRetry hold the deliveries of their source topic
	// waiting for a later attempt (payload DeliveryRetry, with the original event and its not-before
	// time), so one failing destination does not hold up the source partition. Only the notification
	// service writes and reads them. The OTP retry topic carries codes, like otp.dispatch.v1.
	TopicOTPDispatchRetry   = "otp.dispatch.v1.retry"
	TopicAccountEventsRetry = "account.events.v1.retry"
)

// AllTopics lists every topic a deployment needs.
var AllTopics = []string{TopicOTPDispatch, TopicAccountEvents, TopicSessionEvents, TopicProfileEvents, TopicOTPDispatchDLQ, TopicAccountEventsDLQ,
	TopicOTPDispatchRetry, TopicAccountEventsRetry, TopicActivity, TopicAccountExports}

// Event types.
const (
	TypeOTPDispatch    = "otp.dispatch"    // on TopicOTPDispatch, payload OTPDispatch
	TypeAccountCreated = "account.created" // on TopicAccountEvents, payload AccountCreated
	TypeAccountUpdated = "account.updated" // on TopicAccountEvents, payload AccountSnapshot
	TypeSecurityAlert  = "security.alert"  // on TopicAccountEvents, payload SecurityAlert
	TypeAPIKeyRevoked  = "api_key.revoked" // on TopicAccountEvents, payload APIKeyRevoked
	TypeProfileUpdated = "profile.updated" // on TopicProfileEvents, payload ProfileSnapshot
	TypeSessionCreated = "session.created" // on TopicSessionEvents, payload SessionCreated
	TypeSessionRevoked = "session.revoked" // on TopicSessionEvents, payload SessionRevoked
	TypeDeadLetter     = "dead.letter"     // on the *.dlq topics, payload DeadLetter
	TypeDeliveryRetry  = "delivery.retry"  // on the *.retry topics, payload DeliveryRetry
)

// Envelope is the wire form of every event.
type Envelope struct {
	EventID    string          `json:"eventId"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurredAt"`
	AccountID  string          `json:"accountId"`
	Payload    json.RawMessage `json:"payload"`
}

// New builds an envelope with a fresh event id and the current time.
func New(eventType, accountID string, payload any) (Envelope, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("marshal %s payload: %w", eventType, err)
	}
	return Envelope{
		EventID:    NewID(),
		Type:       eventType,
		OccurredAt: time.Now().UTC(),
		AccountID:  accountID,
		Payload:    raw,
	}, nil
}

// Decode unmarshals the payload into v.
func (e Envelope) Decode(v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("decode %s payload of event %s: %w", e.Type, e.EventID, err)
	}
	return nil
}

// NewID returns a random UUID (version 4) string.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never happens on supported platforms
	}
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// OTP channels, as the account API names them.
const (
	ChannelSMS            = "SMS"
	ChannelWhatsApp       = "WHATSAPP"
	ChannelEmail          = "EMAIL"
	ChannelSMSAndWhatsApp = "SMS_AND_WHATSAPP"
)

// OTP and notice purposes: the notification service picks its template by purpose.
const (
	PurposeRegistration         = "registration"
	PurposeRegistrationExisting = "registration_existing_account" // notice, no code: "you already have an account"
	PurposeDeviceVerification   = "device_verification"
	PurposeTwoFactor            = "two_factor"
	PurposePasswordReset        = "password_reset"
	PurposePasswordChange       = "password_change"
	PurposeEmailVerification    = "email_verification"
	PurposePhoneVerification    = "phone_verification"
	PurposeReauthentication     = "reauthentication" // step-up code for an `otp` field of a re-auth gate
)

// OTPDispatch asks the notification service to deliver a one-time code (or a code-less notice) to a
// destination. Code is empty for notices. It is the only secret a message may carry.
type OTPDispatch struct {
	Purpose     string    `json:"purpose"`
	Channel     string    `json:"channel"`
	Destination string    `json:"destination"` // e-mail address or E.164 phone number
	Code        string    `json:"code,omitempty"`
	ExpiresAt   time.Time `json:"expiresAt,omitempty"`
	Locale      string    `json:"locale,omitempty"`
}

// AccountCreated is published by identity when a registration completes. Account is the whole
// account snapshot at creation (the AccountSnapshot of account.updated, version 1 or later), so a
// consumer that applies only this event projects every identity fact — verification flags, status,
// 2FA — not just the ones listed here; it is absent from events queued before it existed.
type AccountCreated struct {
	Email         string           `json:"email"`
	EmailVerified bool             `json:"emailVerified"`
	Username      string           `json:"username,omitempty"`
	FirstName     string           `json:"firstName,omitempty"`
	LastName      string           `json:"lastName,omitempty"`
	Account       *AccountSnapshot `json:"account,omitempty"`
}

// AccountSnapshot is published by identity (type account.updated) whenever an identity-owned fact
// that other services project changes: email or phone and their verification, username, status, 2FA.
// It carries the whole current state, not a diff, so a consumer keeps only the snapshot with the
// highest Version per account and can apply snapshots in any order and any number of times.
type AccountSnapshot struct {
	Version          int64     `json:"version"` // strictly increasing per account
	Email            string    `json:"email,omitempty"`
	EmailVerified    bool      `json:"emailVerified"`
	PhoneNumber      string    `json:"phoneNumber,omitempty"` // E.164
	PhoneVerified    bool      `json:"phoneVerified"`
	Username         string    `json:"username,omitempty"`
	Status           string    `json:"status"` // AccountStatusActive, AccountStatusDeactivated or AccountStatusLocked
	TwoFactorEnabled bool      `json:"twoFactorEnabled"`
	UpdatedAt        time.Time `json:"updatedAt"`
	// PendingPhoneNumber is a number the owner set but has not verified yet (E.164). While the
	// account has a verified phone, PhoneNumber stays that one; without, PhoneNumber shows this one,
	// unverified.
	PendingPhoneNumber string `json:"pendingPhoneNumber,omitempty"`
}

// Account statuses carried by AccountSnapshot. Consumers treat every status other than
// AccountStatusActive as "may not use the account" (statuses may be added).
const (
	AccountStatusActive      = "ACTIVE"
	AccountStatusDeactivated = "DEACTIVATED" // by the owner
	AccountStatusLocked      = "LOCKED"      // by operators or security rules
)

// SecurityAlert asks the notification service to tell an account's owner about a security-relevant
// change. Identity resolves the destination (the account's verified email, else its verified phone)
// so the notification service needs no copy of the account. It carries no secret.
type SecurityAlert struct {
	Kind        string            `json:"kind"`    // one of the Alert* constants
	Channel     string            `json:"channel"` // ChannelEmail, ChannelSMS, ...
	Destination string            `json:"destination"`
	Locale      string            `json:"locale,omitempty"`
	Details     map[string]string `json:"details,omitempty"` // e.g. device, platform, ipAddress, provider, email
}

// Security alert kinds (SecurityAlert.Kind); the notification service picks its template by kind.
const (
	AlertNewDeviceSignIn    = "new_device_sign_in"
	AlertPasswordChanged    = "password_changed"
	AlertPasswordReset      = "password_reset"
	AlertTwoFactorEnabled   = "two_factor_enabled"
	AlertTwoFactorDisabled  = "two_factor_disabled"
	AlertEmailLinked        = "email_linked"
	AlertEmailUnlinked      = "email_unlinked"
	AlertProviderLinked     = "provider_linked"
	AlertProviderUnlinked   = "provider_unlinked"
	AlertAccountDeactivated = "account_deactivated"
)

// ProfileSnapshot is published by the profile service (type profile.updated) whenever a profile field
// that other services show changes. Like AccountSnapshot it is the whole current state with a
// per-account Version; identity keeps it for username search and lookup.
type ProfileSnapshot struct {
	Version     int64  `json:"version"`
	FirstName   string `json:"firstName,omitempty"`
	LastName    string `json:"lastName,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	AvatarURL   string `json:"avatarUrl,omitempty"`
	Locale      string `json:"locale,omitempty"`
	// OnboardingComplete is true once the profile's primary onboarding fields are set.
	OnboardingComplete bool      `json:"onboardingComplete"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// APIKeyRevoked is published by identity (on account.events.v1, which every service follows for its
// deny-list) when an API key stops being valid before its expiry: revoked by its owner, or, with
// AllKeys, every key of the account at once. Every service refuses the key (or keys) from the moment
// it reads the event; expiry needs no event, since every cached answer carries the key's expiry.
type APIKeyRevoked struct {
	KeyID   string `json:"keyId,omitempty"`
	AllKeys bool   `json:"allKeys,omitempty"`
	Reason  string `json:"reason"` // e.g. "revoked_by_owner"
}

// SessionCreated is published by the session service when a session starts.
type SessionCreated struct {
	SessionID string `json:"sessionId"`
	DeviceID  string `json:"deviceId,omitempty"`
}

// SessionRevoked is published by the session service when a session ends before its time. Every
// service keeps the session id on a deny-list until DenyUntil (the latest expiry of any access token
// issued for it), so tokens of the session are refused without asking the session service.
type SessionRevoked struct {
	SessionID string    `json:"sessionId"`
	Reason    string    `json:"reason"`
	DenyUntil time.Time `json:"denyUntil"`
}

// DeliveryRetry is a delivery waiting for its next attempt, on the retry topic of the topic it came
// from (TopicOTPDispatchRetry, TopicAccountEventsRetry) under the original event id and account id.
// Event is the original envelope (an OTP's code included: the topic is as sensitive as its source).
type DeliveryRetry struct {
	Topic     string          `json:"topic"`     // the original topic, without the deployment prefix
	NotBefore time.Time       `json:"notBefore"` // the next attempt is due then
	Attempts  int             `json:"attempts"`  // attempts made so far
	Event     json.RawMessage `json:"event"`     // the original Envelope
}

// DeadLetter is an event a consumer gave up on, published to the dead-letter topic of the topic it came
// from (TopicOTPDispatchDLQ, TopicAccountEventsDLQ) under the original event id and account id. Payload
// is the original payload with every secret removed (an OTP's code is never copied here), so it is for
// operators to inspect, not for replaying as it is.
type DeadLetter struct {
	Topic     string          `json:"topic"`     // the original topic, without the deployment prefix
	EventType string          `json:"eventType"` // the original event type
	Reason    string          `json:"reason"`
	Attempts  int             `json:"attempts"`
	FailedAt  time.Time       `json:"failedAt"`
	Payload   json.RawMessage `json:"payload"`
}
