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
)

// AllTopics lists every topic a deployment needs.
var AllTopics = []string{TopicOTPDispatch, TopicAccountEvents, TopicSessionEvents, TopicProfileEvents, TopicOTPDispatchDLQ}

// Event types.
const (
	TypeOTPDispatch    = "otp.dispatch"    // on TopicOTPDispatch, payload OTPDispatch
	TypeAccountCreated = "account.created" // on TopicAccountEvents, payload AccountCreated
	TypeSessionCreated = "session.created" // on TopicSessionEvents, payload SessionCreated
	TypeSessionRevoked = "session.revoked" // on TopicSessionEvents, payload SessionRevoked
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

// AccountCreated is published by identity when a registration completes.
type AccountCreated struct {
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
	Username      string `json:"username,omitempty"`
	FirstName     string `json:"firstName,omitempty"`
	LastName      string `json:"lastName,omitempty"`
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
