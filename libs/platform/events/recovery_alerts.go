package events

// Security alert kinds of the recovery codes (issue 16).
const (
	// AlertRecoveryCodesGenerated reports a new set of recovery codes; the previous set no longer
	// works. Details: count (codes in the set), ipAddress.
	AlertRecoveryCodesGenerated = "recovery_codes_generated"
	// AlertRecoveryCodeUsed reports that a recovery code was used to sign in. Details: remaining (how
	// many unused codes are left, a decimal number), ipAddress, userAgent.
	AlertRecoveryCodeUsed = "recovery_code_used"
)
