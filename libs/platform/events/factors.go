package events

// Security alert kinds of the second factors (issue 16), beside the ones in events.go.
const (
	AlertAuthenticatorAdded   = "authenticator_added"   // an authenticator app (TOTP) was confirmed
	AlertAuthenticatorRemoved = "authenticator_removed" // the authenticator app was removed
)
