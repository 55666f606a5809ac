package events

// Security alert kind of "this wasn't me" (issue 17).
const (
	// AlertNotMeReported tells the owner that something was reported as not theirs and what was done.
	// Details: reported (the activity kind or alert kind reported), device, platform, ipAddress, at
	// (RFC 3339, when the reported thing happened), sessionEnded, deviceForgotten ("true"/"false"),
	// apiKeysRevoked (a count).
	AlertNotMeReported = "not_me_reported"
)
