package events

// Security alert kinds of the step-up rules (issue 13): changes a stolen access token must never make
// silently.
const (
	// AlertEmailChanged goes to the previous verified address when the account's e-mail is replaced.
	// Details: email (the new address, masked), revertUrl (a single-use link that undoes the change,
	// a capability of the old address's owner like a one-time code) and revertDays.
	AlertEmailChanged = "email_changed"
	// AlertEmailChangeReverted goes to the restored address once a change was undone.
	AlertEmailChangeReverted = "email_change_reverted"
	// AlertPhoneChanged reports a new verified phone number (details: phone, masked; previousPhone
	// when one was replaced).
	AlertPhoneChanged = "phone_changed"
	// AlertAPIKeyCreated reports a new API key (details: name, prefix, scopes).
	AlertAPIKeyCreated = "api_key_created"
)
