// Package delivery delivers one-time codes, notices and security alerts: it renders a message per
// channel from the purpose's (or alert kind's) template, hands it to a Sender (the delivery driver),
// retries transient failures with backoff, and keeps a delivery record per event and per message.
//
// Delivery is idempotent by event id: the event's record (_id = eventId) is inserted before anything
// is sent, so a redelivered or duplicated event finds it and sends nothing again; each message's
// record says whether it went out, so a retry sends only what is missing. Records never hold the code.
//
// Failures: a transient one (a 5xx, a timeout, a 429) is retried with exponential backoff and jitter,
// waiting at least the provider's Retry-After; a permanent one (an invalid number, an unsubscribed
// recipient, an undeliverable dispatch) is not. When the attempts run out, or on a permanent failure,
// the delivery is recorded as failed and the event goes to the dead-letter topic with the reason. An
// OTP whose expiry has passed is never sent late.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Sender sends one message and returns the provider's id for it (empty when the provider has none).
// Drivers implement it: the dev outbox, Twilio for SMS and WhatsApp, SMTP for e-mail. An error should
// be a *SendError (see Permanent and Transient); any other error counts as transient.
type Sender interface {
	Send(ctx context.Context, m Message) (providerID string, err error)
}

// OncePerIDSender is a Sender that stores each message under its id, so that sending one again can
// never deliver it twice (the development outbox). A send a crash cut off is then simply sent again;
// with any other sender it is given up rather than risk a duplicate (see deliverMessages).
type OncePerIDSender interface {
	Sender
	SendsOncePerID() bool
}

// resendsSafely reports whether sender (for a Router, the driver of the channel) makes a second
// send of a message a no-op.
func resendsSafely(sender Sender, channel string) bool {
	if r, ok := sender.(Router); ok {
		sender = r[channel]
	}
	s, ok := sender.(OncePerIDSender)
	return ok && s.SendsOncePerID()
}

// Limiter guards destinations against floods: Allow counts the messages and reports whether they
// may go out. It is asked once per OTP dispatch, before its first send.
type Limiter interface {
	Allow(ctx context.Context, msgs []Message, now time.Time) (ok bool, reason string, err error)
}

// DeadLetters receives the dispatches that failed for good, with the reason.
type DeadLetters interface {
	DeadLetter(ctx context.Context, d Dispatch, reason string, attempts int) error
}

// Retries schedules a later attempt of a dispatch (the delayed retry topics, package retry): the
// event it came from is then done with, and its partition moves on instead of waiting for the attempt.
// The later attempt calls Deliver again with the same dispatch, which carries on from where it stopped.
type Retries interface {
	Retry(ctx context.Context, d Dispatch, notBefore time.Time, attempts int) error
}

// Status is the state of a delivery (of an event) or of one message.
type Status string

// Delivery and message states. Queued (and, for a message, sending) are the only ones not final;
// a message goes queued → sending → sent → delivered or failed.
const (
	StatusQueued    Status = "queued"
	StatusSending   Status = "sending"
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusFailed    Status = "failed"
	StatusExpired   Status = "expired"
	StatusLimited   Status = "limited"
)

// Dispatch is a request to deliver a code, a code-less notice or a security alert to a destination.
type Dispatch struct {
	EventID     string
	AccountID   string
	Source      string // the topic the event came from (without prefix), for the dead-letter record
	Alert       bool   // a security alert: Purpose is the alert kind
	Purpose     string
	Channel     string // SMS, WHATSAPP, EMAIL or SMS_AND_WHATSAPP
	Destination string
	Code        string // empty for notices and alerts
	ExpiresAt   time.Time
	Locale      string
	Details     map[string]string // alerts only
}

// Record is what is kept about the delivery of one dispatch. It never holds the code.
type Record struct {
	EventID      string
	AccountID    string
	Kind         string // "otp" or "alert"
	Purpose      string
	Channel      string
	Destination  string
	Status       Status
	Attempts     int
	LastError    string
	DeadLettered bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// MessageRecord is what is kept about one message of a delivery.
type MessageRecord struct {
	ID                string // Message.ID
	EventID           string
	Channel           string
	Destination       string
	Status            Status
	ProviderMessageID string
	Attempts          int
	LastError         string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// MessageUpdate changes a message record; empty fields are left alone.
type MessageUpdate struct {
	Status            Status
	ProviderMessageID string
	LastError         string
	CountAttempt      bool
}

// Store keeps delivery and message records. Each method is a single-document write or read.
type Store interface {
	// Create inserts a record, or returns ErrDuplicate when one with the same event id exists.
	Create(ctx context.Context, r Record) error
	// Get returns the record of an event.
	Get(ctx context.Context, eventID string) (Record, error)
	// StartAttempt counts one more attempt and returns the record as it is now.
	StartAttempt(ctx context.Context, eventID string, at time.Time) (Record, error)
	// Finish sets a final status (and the last error, if any).
	Finish(ctx context.Context, eventID string, status Status, lastError string, at time.Time) error
	// RecordError keeps the last error of an attempt that will be retried.
	RecordError(ctx context.Context, eventID, lastError string, at time.Time) error
	// MarkDeadLettered records that the failed delivery reached the dead-letter topic.
	MarkDeadLettered(ctx context.Context, eventID string, at time.Time) error
	// AddMessage inserts a message record unless one with its id exists.
	AddMessage(ctx context.Context, m MessageRecord) error
	// Messages returns the message records of an event.
	Messages(ctx context.Context, eventID string) ([]MessageRecord, error)
	// UpdateMessage changes a message record.
	UpdateMessage(ctx context.Context, id string, u MessageUpdate, at time.Time) error
}

// ErrDuplicate: a record for the event exists already.
var ErrDuplicate = errors.New("delivery already recorded")

// ErrInterrupted: the service is shutting down while a delivery waits for its next attempt. The
// event must not be committed; it is delivered again (from where it stopped) after the restart.
var ErrInterrupted = errors.New("delivery interrupted by shutdown")

// InvalidDispatchError is a dispatch that can never be delivered (unknown purpose or channel, a code
// missing); retrying it is pointless, so it is recorded as failed.
type InvalidDispatchError struct{ Reason string }

func (e *InvalidDispatchError) Error() string { return "invalid dispatch: " + e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidDispatchError{Reason: fmt.Sprintf(format, args...)}
}

// Outcomes reported to Options.Observe, one per message (or per dispatch when no message was tried).
const (
	OutcomeSent      = "sent"
	OutcomeRetry     = "retry"
	OutcomeFailed    = "failed"
	OutcomeExpired   = "expired"
	OutcomeLimited   = "limited"
	OutcomeDuplicate = "duplicate"
	OutcomeInvalid   = "invalid"
)

// Options tune a Service; zero values take the defaults.
type Options struct {
	MaxAttempts   int           // attempts before giving up (default 5)
	RetryBase     time.Duration // wait before the second attempt (default 1s), doubled per attempt
	RetryMax      time.Duration // longest backoff (default 30s)
	RetryAfterMax time.Duration // the longest Retry-After honoured; longer gives up (default 10m)
	Limiter       Limiter       // nil: no abuse limits
	DeadLetters   DeadLetters   // nil: failed deliveries are only recorded
	// Retries, when set, takes a delivery that must wait for its next attempt, so Deliver returns
	// instead of waiting; nil: Deliver waits between attempts itself (holding up the caller).
	Retries  Retries
	Observe  func(channel, outcome string)
	Stopping <-chan struct{}  // closed on shutdown: ends a wait between attempts
	Now      func() time.Time // the clock (default time.Now)
}

// Service delivers dispatches.
type Service struct {
	store  Store
	sender Sender
	log    *slog.Logger
	opts   Options
	now    func() time.Time
}

// NewService returns a Service that records in store and sends through sender.
func NewService(store Store, sender Sender, log *slog.Logger, o Options) *Service {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.RetryAfterMax <= 0 {
		o.RetryAfterMax = 10 * time.Minute
	}
	if o.Observe == nil {
		o.Observe = func(string, string) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	clock := o.Now
	return &Service{store: store, sender: sender, log: log, opts: o, now: func() time.Time { return clock().UTC() }}
}

const tracerName = "github.com/latchkey/latchkey/services/notification/internal/delivery"

// Deliver delivers a dispatch at least once and, for a given event id, at most once as far as this
// service can tell. It returns an error only when the caller should not commit the event: a store or
// dead-letter failure, or ErrInterrupted. An expired code, a limited destination, an undeliverable
// dispatch, a permanent failure or a duplicate event are recorded (or recognised) and return nil.
func (s *Service) Deliver(ctx context.Context, d Dispatch) error {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "deliver "+kindOf(d),
		trace.WithAttributes(attribute.String("latchkey.event.id", d.EventID), attribute.String("latchkey.purpose", d.Purpose),
			attribute.String("latchkey.channel", d.Channel)))
	defer span.End()
	err := s.deliver(ctx, d)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "delivery not finished")
	}
	return err
}

func kindOf(d Dispatch) string {
	if d.Alert {
		return "alert"
	}
	return "otp"
}

func (s *Service) deliver(ctx context.Context, d Dispatch) error {
	now := s.now()
	rec := Record{
		EventID: d.EventID, AccountID: d.AccountID, Kind: kindOf(d), Purpose: d.Purpose, Channel: d.Channel,
		Destination: NormalizeDestination(d.Destination), Status: StatusQueued, CreatedAt: now, UpdatedAt: now,
	}
	msgs, composeErr := Compose(d, now)
	var bad *InvalidDispatchError
	switch {
	case errors.As(composeErr, &bad):
		rec.Status, rec.LastError = StatusFailed, bad.Error()
	case composeErr != nil:
		return composeErr
	case expired(d, now):
		rec.Status = StatusExpired
	}

	err := s.store.Create(ctx, rec)
	fresh := err == nil
	switch {
	case errors.Is(err, ErrDuplicate):
		existing, err := s.store.Get(ctx, d.EventID)
		if err != nil {
			return err
		}
		if existing.Status != StatusQueued {
			s.opts.Observe(d.Channel, OutcomeDuplicate)
			s.log.InfoContext(ctx, "duplicate event ignored", "event_id", d.EventID, "status", existing.Status)
			if existing.Status == StatusFailed && !existing.DeadLettered {
				// Failed, but the dead letter was not confirmed (a crash or a Kafka error): send it now.
				return s.deadLetter(ctx, d, existing.LastError, existing.Attempts)
			}
			return nil
		}
		// Queued: an earlier attempt failed or was interrupted. Carry on from where it stopped, unless
		// the dispatch has become undeliverable meanwhile.
		if rec.Status != StatusQueued {
			if err := s.store.Finish(ctx, d.EventID, rec.Status, rec.LastError, now); err != nil {
				return err
			}
		}
	case err != nil:
		return err
	}
	switch rec.Status {
	case StatusFailed:
		s.opts.Observe(d.Channel, OutcomeInvalid)
		s.log.ErrorContext(ctx, "dispatch cannot be delivered", "event_id", d.EventID, "err", composeErr)
		return s.deadLetter(ctx, d, rec.LastError, 0)
	case StatusExpired:
		s.opts.Observe(d.Channel, OutcomeExpired)
		s.log.WarnContext(ctx, "code expired before delivery; not sent", "event_id", d.EventID, "purpose", d.Purpose)
		return nil
	}

	if fresh && !d.Alert && s.opts.Limiter != nil {
		ok, reason, err := s.opts.Limiter.Allow(ctx, msgs, now)
		if err != nil {
			return fmt.Errorf("check send limits of %s: %w", d.EventID, err)
		}
		if !ok {
			s.opts.Observe(d.Channel, OutcomeLimited)
			s.log.WarnContext(ctx, "send limit reached; dispatch dropped", "event_id", d.EventID, "reason", reason)
			return s.store.Finish(ctx, d.EventID, StatusLimited, reason, now)
		}
	}
	for _, m := range msgs {
		err := s.store.AddMessage(ctx, MessageRecord{
			ID: m.ID, EventID: d.EventID, Channel: m.Channel, Destination: m.To, Status: StatusQueued, CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			return err
		}
	}
	return s.attempt(ctx, d, msgs)
}

// attempt sends the messages not sent yet, retrying transient failures until the attempts run out.
func (s *Service) attempt(ctx context.Context, d Dispatch, msgs []Message) error {
	for {
		rec, err := s.store.StartAttempt(ctx, d.EventID, s.now())
		if err != nil {
			return err
		}
		if expired(d, s.now()) {
			return s.expire(ctx, d)
		}
		permanent, transient, err := s.sendPending(ctx, msgs)
		if err != nil {
			return err
		}
		switch {
		case permanent == nil && transient == nil:
			if err := s.store.Finish(ctx, d.EventID, StatusSent, "", s.now()); err != nil {
				return err
			}
			s.log.InfoContext(ctx, "delivered", "event_id", d.EventID, "purpose", d.Purpose, "channel", d.Channel, "attempts", rec.Attempts)
			return nil
		case transient == nil:
			return s.giveUp(ctx, d, permanent.Error(), rec.Attempts)
		case rec.Attempts >= s.opts.MaxAttempts:
			return s.giveUp(ctx, d, errors.Join(permanent, transient).Error(), rec.Attempts)
		}

		wait := s.backoff(rec.Attempts)
		if ra := retryAfterOf(transient); ra > wait {
			wait = ra
		}
		if wait > s.opts.RetryAfterMax {
			return s.giveUp(ctx, d, fmt.Sprintf("%v (the provider asked to wait %s)", transient, wait), rec.Attempts)
		}
		if !d.Alert && !d.ExpiresAt.IsZero() && !s.now().Add(wait).Before(d.ExpiresAt) {
			return s.expire(ctx, d)
		}
		if err := s.store.RecordError(ctx, d.EventID, transient.Error(), s.now()); err != nil {
			return errors.Join(transient, err)
		}
		if s.opts.Retries != nil {
			if err := s.opts.Retries.Retry(ctx, d, s.now().Add(wait), rec.Attempts); err != nil {
				return errors.Join(transient, err)
			}
			s.log.WarnContext(ctx, "send failed; retry scheduled", "event_id", d.EventID, "attempt", rec.Attempts, "wait", wait, "err", transient)
			return nil
		}
		s.log.WarnContext(ctx, "send failed; retrying", "event_id", d.EventID, "attempt", rec.Attempts, "wait", wait, "err", transient)
		if !s.sleep(ctx, wait) {
			return fmt.Errorf("%w: %w", ErrInterrupted, transient)
		}
	}
}

// sendPending sends each message that has not gone out. It returns the permanent and the transient
// failures of this attempt (nil when none); err is a store failure.
func (s *Service) sendPending(ctx context.Context, msgs []Message) (permanent, transient, err error) {
	if len(msgs) == 0 {
		return nil, nil, nil
	}
	recs, err := s.store.Messages(ctx, msgs[0].EventID)
	if err != nil {
		return nil, nil, err
	}
	state := make(map[string]MessageRecord, len(recs))
	for _, r := range recs {
		state[r.ID] = r
	}
	for _, m := range msgs {
		switch r := state[m.ID]; r.Status {
		case StatusSent, StatusDelivered:
			continue
		case StatusFailed:
			permanent = errors.Join(permanent, fmt.Errorf("%s message: %s", m.Channel, r.LastError))
			continue
		case StatusSending:
			if resendsSafely(s.sender, m.Channel) {
				break // the sender keeps one copy per message id: send it (again)
			}
			// An earlier run stopped in the middle of this send (a crash): the provider may have
			// the message. Sending it again could deliver it twice, so it is given up instead.
			reason := "interrupted during the send; not sent again to avoid a duplicate"
			if err := s.store.UpdateMessage(ctx, m.ID, MessageUpdate{Status: StatusFailed, LastError: reason}, s.now()); err != nil {
				return nil, nil, err
			}
			s.opts.Observe(m.Channel, OutcomeFailed)
			permanent = errors.Join(permanent, fmt.Errorf("%s message: %s", m.Channel, reason))
			continue
		}
		if err := s.store.UpdateMessage(ctx, m.ID, MessageUpdate{Status: StatusSending, CountAttempt: true}, s.now()); err != nil {
			return nil, nil, err
		}
		providerID, sendErr := s.send(ctx, m)
		if sendErr == nil {
			if err := s.store.UpdateMessage(ctx, m.ID, MessageUpdate{Status: StatusSent, ProviderMessageID: providerID}, s.now()); err != nil {
				return nil, nil, err
			}
			s.opts.Observe(m.Channel, OutcomeSent)
			continue
		}
		sendErr = fmt.Errorf("send %s message %s: %w", m.Channel, m.ID, sendErr)
		status, outcome := StatusQueued, OutcomeRetry
		if IsPermanent(sendErr) {
			status, outcome = StatusFailed, OutcomeFailed
			permanent = errors.Join(permanent, sendErr)
		} else {
			transient = errors.Join(transient, sendErr)
		}
		if err := s.store.UpdateMessage(ctx, m.ID, MessageUpdate{Status: status, LastError: sendErr.Error()}, s.now()); err != nil {
			return nil, nil, err
		}
		s.opts.Observe(m.Channel, outcome)
	}
	// Keep the Retry-After of a transient failure visible through the join.
	if transient != nil {
		var se *SendError
		if errors.As(transient, &se) && se.RetryAfter > 0 {
			transient = Transient(transient, se.RetryAfter)
		}
	}
	return permanent, transient, nil
}

func (s *Service) send(ctx context.Context, m Message) (string, error) {
	ctx, span := otel.Tracer(tracerName).Start(ctx, "send "+m.Channel, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("latchkey.message.id", m.ID), attribute.String("latchkey.channel", m.Channel)))
	defer span.End()
	id, err := s.sender.Send(ctx, m)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "send failed")
	}
	return id, err
}

// giveUp records the delivery as failed and hands it to the dead-letter topic.
func (s *Service) giveUp(ctx context.Context, d Dispatch, reason string, attempts int) error {
	s.log.ErrorContext(ctx, "delivery failed for good", "event_id", d.EventID, "attempts", attempts, "reason", reason)
	if err := s.closeMessages(ctx, d.EventID, "given up: "+reason); err != nil {
		return err
	}
	if err := s.store.Finish(ctx, d.EventID, StatusFailed, reason, s.now()); err != nil {
		return err
	}
	return s.deadLetter(ctx, d, reason, attempts)
}

// closeMessages marks the messages of an event that never went out as failed, with the reason.
func (s *Service) closeMessages(ctx context.Context, eventID, reason string) error {
	recs, err := s.store.Messages(ctx, eventID)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Status != StatusQueued && r.Status != StatusSending {
			continue
		}
		if err := s.store.UpdateMessage(ctx, r.ID, MessageUpdate{Status: StatusFailed, LastError: reason}, s.now()); err != nil {
			return err
		}
		s.opts.Observe(r.Channel, OutcomeFailed)
	}
	return nil
}

func (s *Service) deadLetter(ctx context.Context, d Dispatch, reason string, attempts int) error {
	if s.opts.DeadLetters == nil {
		return nil
	}
	if err := s.opts.DeadLetters.DeadLetter(ctx, d, reason, attempts); err != nil {
		return fmt.Errorf("dead-letter %s: %w", d.EventID, err)
	}
	return s.store.MarkDeadLettered(ctx, d.EventID, s.now())
}

func (s *Service) expire(ctx context.Context, d Dispatch) error {
	s.opts.Observe(d.Channel, OutcomeExpired)
	s.log.WarnContext(ctx, "code expired before it could be delivered; not sent late", "event_id", d.EventID)
	if err := s.closeMessages(ctx, d.EventID, "the code expired before it could be delivered"); err != nil {
		return err
	}
	return s.store.Finish(ctx, d.EventID, StatusExpired, "expired before delivery", s.now())
}

// backoff is the wait after attempt number attempt (1-based): RetryBase doubled per attempt, at most
// RetryMax, with "equal jitter" (between half and all of it) so retries of many events spread out.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.opts.RetryBase
	for i := 1; i < attempt && d < s.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, s.opts.RetryMax)
	half := d / 2
	return half + rand.N(half+1)
}

// sleep waits for d, or until ctx is done or the service stops; it reports whether d passed.
func (s *Service) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.opts.Stopping:
		return false
	}
}

func expired(d Dispatch, now time.Time) bool {
	return !d.Alert && !d.ExpiresAt.IsZero() && !now.Before(d.ExpiresAt)
}
