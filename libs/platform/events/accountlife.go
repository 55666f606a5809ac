package events

import (
	"encoding/json"
	"time"
)

// Issue 17: the activity log, export and deletion. Topics and types beside the ones in events.go.
const (
	// TopicActivity carries what happened to an account (payload Activity). Every service produces it
	// through its outbox; identity consumes it (group "identity-activity") into the owner's activity log.
	TopicActivity = "activity.events.v1"
	// TopicAccountExports carries each service's part of an account export (payload ExportPart).
	// Every service but identity produces it; identity consumes it (group "identity-exports"). It holds
	// personal data: no other consumer reads it.
	TopicAccountExports = "account.exports.v1"
)

const (
	TypeActivity        = "activity.recorded"        // on TopicActivity, payload Activity
	TypeExportRequested = "account.export_requested" // on TopicAccountEvents, payload ExportRequested
	TypeExportPart      = "account.export_part"      // on TopicAccountExports, payload ExportPart
	TypeAccountDeleted  = "account.deleted"          // on TopicAccountEvents, payload AccountDeleted
)

// Activity is one security-relevant thing that happened to an account, as its owner sees it in the
// activity log. The envelope's eventId is the entry's id (the log is idempotent by it), accountId the
// account, occurredAt its time. It carries no secret: no password, code, token or key.
type Activity struct {
	Kind    string `json:"kind"`              // one of the Activity* constants
	Outcome string `json:"outcome,omitempty"` // OutcomeSucceeded or OutcomeFailed ("" = succeeded)
	Reason  string `json:"reason,omitempty"`  // why, for failures and ends: e.g. "wrong_password", "new_device", "signed_out"
	// Where it came from: the session it happened in (or that ended), the device and client.
	SessionID  string `json:"sessionId,omitempty"`
	DeviceID   string `json:"deviceId,omitempty"`
	DeviceName string `json:"deviceName,omitempty"`
	Platform   string `json:"platform,omitempty"`
	IPAddress  string `json:"ipAddress,omitempty"`
	UserAgent  string `json:"userAgent,omitempty"`
	Location   string `json:"location,omitempty"`
	Actor      Actor  `json:"actor"`
	// Details are kind-specific facts (e.g. "method": "totp", "provider": "google", "keyId", "prefix",
	// "username"); never a secret.
	Details map[string]string `json:"details,omitempty"`
}

// Actor says who did it: the owner, an operator (with their account id) or the system.
type Actor struct {
	Type string `json:"type"`         // ActorOwner, ActorAdmin, ActorSupport or ActorSystem
	ID   string `json:"id,omitempty"` // the operator's account id for ActorAdmin/ActorSupport
}

// Actor types.
const (
	ActorOwner   = "owner"
	ActorAdmin   = "admin"
	ActorSupport = "support"
	ActorSystem  = "system"
)

// Activity outcomes.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
)

// Activity kinds. The owner can filter the log by kind; "not me" applies to successful sign-ins and to
// changes made by the owner (actor owner) in a session.
const (
	ActivitySignIn            = "sign_in"            // Outcome, Reason (wrong_password, two_factor_failed, new_device, locked, ...), Details.method
	ActivityDeviceVerified    = "device_verified"    // a new device was verified and trusted
	ActivityPasswordChanged   = "password_changed"   // Details.how: change, reset, set
	ActivityTwoFactorChanged  = "two_factor_changed" // Details.factor (codes, totp, passkey, recovery_codes), Details.change (added, removed, used)
	ActivityEmailChanged      = "email_changed"      // linked, changed, removed, reverted
	ActivityPhoneChanged      = "phone_changed"      //
	ActivityProviderChanged   = "provider_changed"   // Details.provider, Details.change (linked, unlinked)
	ActivityUsernameChanged   = "username_changed"   // Details.username
	ActivityAPIKeyCreated     = "api_key_created"    // Details.keyId, Details.prefix, Details.name
	ActivityAPIKeyFirstUsed   = "api_key_first_used" // Details.keyId, Details.prefix
	ActivityAPIKeyRevoked     = "api_key_revoked"    // Details.keyId (or allKeys), Details.reason
	ActivitySessionEnded      = "session_ended"      // SessionID, Reason; Actor says by whom
	ActivityAccountStatus     = "account_status"     // Details.status (LOCKED, ACTIVE, DEACTIVATED), Reason
	ActivityAdminAction       = "admin_action"       // Details.action (lock, unlock, reactivate, sign_out, reset_2fa, roles, revoke_api_key, delete)
	ActivityNotMe             = "not_me"             // the owner reported entry Details.entryId as not theirs
	ActivityExportRequested   = "export_requested"   // Details.exportId
	ActivityDeletionScheduled = "deletion_scheduled" // Details.deleteAt
	ActivityDeletionCancelled = "deletion_cancelled" //
)

// ExportRequested (on TopicAccountEvents) asks every service for its part of the account's data for
// export ExportID. Each service but identity answers with one ExportPart on TopicAccountExports.
type ExportRequested struct {
	ExportID    string    `json:"exportId"`
	RequestedAt time.Time `json:"requestedAt"`
}

// ExportPart is one service's part of an export: Data is a JSON object with that service's data about
// the account (e.g. the session service: {"sessions": [...]}). Published under the account's id with an
// event id derived from export id and service, so a part sent twice is stored once.
type ExportPart struct {
	ExportID string          `json:"exportId"`
	Service  string          `json:"service"` // "session", "profile", "notification"
	Data     json.RawMessage `json:"data"`
}

// AccountDeleted (on TopicAccountEvents) is published by identity when an account's deletion grace
// period has ended: every service erases everything it holds about the account. Email and PhoneNumber
// (every address and number the account had: verified, pending and previous) are there for records
// keyed by destination rather than by account (delivery records, send limits).
type AccountDeleted struct {
	DeletedAt    time.Time `json:"deletedAt"`
	Emails       []string  `json:"emails,omitempty"`
	PhoneNumbers []string  `json:"phoneNumbers,omitempty"` // E.164
}
