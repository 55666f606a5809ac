package config

import (
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// Export are the account data export settings:
//
//	ACCOUNT_EXPORT_TTL [24h]       how long a complete export can be downloaded (1m to 168h)
//	ACCOUNT_EXPORT_INTERVAL [1h]   least time between two exports of one account (1m to 168h); a
//	                               request sooner is a 429 with Retry-After
type Export struct {
	TTL      time.Duration
	Interval time.Duration
}

func loadExport(l *config.Loader) (Export, []error) {
	e := Export{TTL: l.Duration("ACCOUNT_EXPORT_TTL", 24*time.Hour), Interval: l.Duration("ACCOUNT_EXPORT_INTERVAL", time.Hour)}
	var errs []error
	if e.TTL < time.Minute || e.TTL > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("ACCOUNT_EXPORT_TTL=%s: want 1m to 168h", e.TTL))
	}
	if e.Interval < time.Minute || e.Interval > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("ACCOUNT_EXPORT_INTERVAL=%s: want 1m to 168h", e.Interval))
	}
	return e, errs
}
