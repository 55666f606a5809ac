package password

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

// breachChecks counts breached-password checks by where the verdict came from and what it was.
var breachChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "latchkey_identity_breached_password_checks_total",
	Help: "Breached-password checks of new passwords by source (api, cache, offline) and outcome (breached, clean).",
}, []string{"source", "outcome"})

// breachAPIFailures counts range requests that got no usable answer (the offline list answered).
var breachAPIFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "latchkey_identity_breached_password_api_failures_total",
	Help: "Pwned Passwords range requests without a usable answer, by reason (timeout, network, status, body); the offline list answered instead.",
}, []string{"reason"})

func init() {
	telemetry.MustRegister(breachChecks, breachAPIFailures)
	// Every series exists from the start, so rates and alerts see a zero rather than nothing.
	for _, s := range []string{sourceAPI, sourceCache, sourceOffline} {
		for _, o := range []string{"breached", "clean"} {
			breachChecks.WithLabelValues(s, o)
		}
	}
	for _, r := range []string{failTimeout, failNetwork, failStatus, failBody} {
		breachAPIFailures.WithLabelValues(r)
	}
}
