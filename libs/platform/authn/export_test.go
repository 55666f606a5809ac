package authn

import (
	"context"
	"time"
)

// FlushAPIKeyLimits adds v's counts to the shared counters now, as its worker would.
func FlushAPIKeyLimits(ctx context.Context, v *Verifier) error {
	return v.shared.flush(ctx, time.Now())
}
