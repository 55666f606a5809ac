package config

import (
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// Activity log retention bounds: a day at least (the owner must be able to look at yesterday), two
// years at most (the log holds personal data).
const (
	minActivityRetention = 24 * time.Hour
	maxActivityRetention = 2 * 365 * 24 * time.Hour
)

// loadActivityRetention reads ACTIVITY_RETENTION [2160h]: how long the owner's activity log keeps an
// entry (older ones are never shown and are deleted by the cleanup worker and, on MongoDB, a TTL index).
func loadActivityRetention(l *config.Loader) (time.Duration, []error) {
	d := l.Duration("ACTIVITY_RETENTION", 90*24*time.Hour)
	if d < minActivityRetention || d > maxActivityRetention {
		return d, []error{fmt.Errorf("ACTIVITY_RETENTION=%s: want 24h to 17520h", d)}
	}
	return d, nil
}
