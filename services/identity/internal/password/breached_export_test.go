package password

import "time"

// SetClockForTest makes b read the time from now (cache expiry).
func (b *BreachChecker) SetClockForTest(now func() time.Time) { b.now = now }
