package events

// Security alert kinds of account deletion (issue 17).
const (
	// AlertAccountDeletionScheduled tells the owner the account will be deleted (details: deleteAt,
	// RFC 3339) unless they sign in and cancel before then.
	AlertAccountDeletionScheduled = "account_deletion_scheduled"
	// AlertAccountDeletionCancelled tells the owner a scheduled deletion was cancelled.
	AlertAccountDeletionCancelled = "account_deletion_cancelled"
)
