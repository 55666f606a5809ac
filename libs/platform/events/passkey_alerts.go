package events

// Security alert kinds of passkeys (issue 16): every factor added or removed is told to the owner.
const (
	// AlertPasskeyAdded reports a passkey registered to the account (details: name).
	AlertPasskeyAdded = "passkey_added"
	// AlertPasskeyRemoved reports a passkey removed from the account (details: name).
	AlertPasskeyRemoved = "passkey_removed"
)
