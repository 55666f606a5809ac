package auth

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// Projections receives identity's account events (account.created, account.updated) synchronously,
// before the request that caused them is answered: the profile service's internal API. Kafka still
// carries every event (the outbox); this is the fast path that gives read-your-own-writes.
//
// Why: the profile service answers GET /api/v1/me and /api/v1/auth/me from its projection of
// identity's facts. Through Kafka alone the projection lags the change by the relay and consumer
// delay, so a client that changes its username (or just registered) and reads its profile at once
// could see the old state. Delivering the event to the projection before answering means that once a
// change is acknowledged, every later read already reflects it; the consumer applies the same event
// again later and, being idempotent (event id, highest version wins), changes nothing.
type Projections interface {
	Deliver(ctx context.Context, ev events.Envelope) error
}

// projectionTimeout bounds the synchronous delivery: a slow or absent profile service delays a
// change by at most this much, and the event still arrives through Kafka.
const projectionTimeout = 2 * time.Second

// deliverNow hands ev to the projections, best effort: the change is stored and the event queued,
// so a failure only leaves the projection to Kafka's pace (logged).
func (s *Service) deliverNow(ctx context.Context, ev events.Envelope) {
	if s.Projections == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), projectionTimeout)
	defer cancel()
	if err := s.Projections.Deliver(ctx, ev); err != nil {
		s.Logger.WarnContext(ctx, "deliver account event to the profile projection; Kafka will", "event_id", ev.EventID, "type", ev.Type, "account_id", ev.AccountID, "err", err)
	}
}
