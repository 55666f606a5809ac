package journey_test

import (
	"time"

	"github.com/latchkey/latchkey/devstack/stack"
)

// shortRefreshGrace is the session service's REFRESH_TOKEN_GRACE in the journeys that replay a spent
// refresh token: they wait it out rather than the production default.
const shortRefreshGrace = time.Second

// withShortRefreshGrace configures the stack with shortRefreshGrace.
func withShortRefreshGrace(c *stack.Config) {
	withServiceEnv("session", map[string]string{"REFRESH_TOKEN_GRACE": shortRefreshGrace.String()})(c)
}
