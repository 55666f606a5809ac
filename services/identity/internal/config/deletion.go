package config

import (
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// Deletion are the settings of account deletion (issue 17):
//
//	ACCOUNT_DELETION_GRACE [720h]                  time between DELETE /api/v1/account and the erasure;
//	                                               signing in and cancelling within it keeps the account.
//	                                               1s to 8760h (short values are for tests)
//	ACCOUNT_DELETION_CHECK_INTERVAL [1m]           how often the deletion worker looks for accounts whose
//	                                               grace period has ended; 100ms to 1h
type Deletion struct {
	Grace         time.Duration
	CheckInterval time.Duration
}

func loadDeletion(l *config.Loader) (Deletion, []error) {
	d := Deletion{
		Grace:         l.Duration("ACCOUNT_DELETION_GRACE", 30*24*time.Hour),
		CheckInterval: l.Duration("ACCOUNT_DELETION_CHECK_INTERVAL", time.Minute),
	}
	var errs []error
	if d.Grace < time.Second || d.Grace > 365*24*time.Hour {
		errs = append(errs, fmt.Errorf("ACCOUNT_DELETION_GRACE=%s: want 1s to 8760h", d.Grace))
	}
	if d.CheckInterval < 100*time.Millisecond || d.CheckInterval > time.Hour {
		errs = append(errs, fmt.Errorf("ACCOUNT_DELETION_CHECK_INTERVAL=%s: want 100ms to 1h", d.CheckInterval))
	}
	return d, errs
}
