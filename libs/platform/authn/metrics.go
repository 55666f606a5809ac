package authn

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

// revocationLag is the time from a revocation (a session.revoked or api_key.revoked event's
// occurredAt, set where the revocation was decided) to its application in this process's deny-list:
// how long a revoked token or key may still have been accepted here.
var revocationLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "latchkey_revocation_lag_seconds",
	Help:    "Time from a session or API key revocation to its application in this process's deny-list, by event type.",
	Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
}, []string{"event_type"})

func init() {
	telemetry.MustRegister(revocationLag)
	for _, t := range []string{events.TypeSessionRevoked, events.TypeAPIKeyRevoked} {
		revocationLag.WithLabelValues(t) // every series exists from the start
	}
}

// observeRevocation records the lag of a revocation the follower applied. Events that happened before
// the follower started (those it replays on start-up to learn the revocations in force) are not
// measured: their lag is the replica's age, not the system's.
func observeRevocation(ev events.Envelope, followingSince time.Time) {
	if ev.Type != events.TypeSessionRevoked && ev.Type != events.TypeAPIKeyRevoked {
		return
	}
	if ev.OccurredAt.Before(followingSince) {
		return
	}
	revocationLag.WithLabelValues(ev.Type).Observe(max(0, time.Since(ev.OccurredAt).Seconds()))
}
