package events

// Security alert kinds of the admin API (issue 17): the owner is told when an operator locks or
// unlocks the account or resets its second factors. Details are empty.
const (
	// AlertAccountLocked reports that an operator locked the account and ended its sessions.
	AlertAccountLocked = "account_locked"
	// AlertAccountUnlocked reports that an operator unlocked the account.
	AlertAccountUnlocked = "account_unlocked"
	// AlertTwoFactorResetBySupport reports that an operator turned off every second factor
	// (codes, authenticator app, passkeys, recovery codes) and ended the sessions.
	AlertTwoFactorResetBySupport = "two_factor_reset_by_support"
)
