package session

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

var (
	// tokenRefreshes counts refresh-token exchanges by outcome: success (a new pair, or the same new
	// pair again within the grace), invalid (unknown, expired, revoked or already used token) or error
	// (the store or the signer failed).
	tokenRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_session_token_refreshes_total",
		Help: "Refresh-token exchanges by outcome (success, invalid, error).",
	}, []string{"outcome"})
	// refreshTokenReuses counts sessions revoked because one of their refresh tokens came back after
	// it had been used: a stolen token, or a client that lost a response.
	refreshTokenReuses = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "latchkey_session_refresh_token_reuses_total",
		Help: "Sessions revoked because a refresh token was presented again after its use.",
	})
)

func init() {
	telemetry.MustRegister(tokenRefreshes, refreshTokenReuses)
	for _, o := range []string{"success", "invalid", "error"} {
		tokenRefreshes.WithLabelValues(o) // every series exists from the start
	}
}

func observeRefresh(err error) {
	outcome := "error"
	switch {
	case err == nil:
		outcome = "success"
	case errors.Is(err, ErrInvalidRefreshToken):
		outcome = "invalid"
	}
	tokenRefreshes.WithLabelValues(outcome).Inc()
}
