// Package delivery delivers one-time codes and notices from otp.dispatch events: it renders a message
// per channel from the purpose's template, hands it to a Sender (the delivery driver), and keeps a
// delivery record per event.
//
// Delivery is idempotent by event id: the record (_id = eventId) is inserted before anything is sent,
// so a redelivered or duplicated event finds it and sends nothing again. The record never holds the
// code. A send that fails leaves the record queued and returns an error, so the consumer retries;
// after MaxAttempts the record is marked failed and the event is let go.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Sender sends one message. Drivers implement it: the dev outbox (package devoutbox) now, SMS,
// WhatsApp and e-mail later. Send must be safe to call again with the same Message.ID after an
// error (a retry), ideally without sending twice.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Status is the state of a delivery.
type Status string

// Delivery states. Queued is the only one that is not final.
const (
	StatusQueued  Status = "queued"
	StatusSent    Status = "sent"
	StatusFailed  Status = "failed"
	StatusExpired Status = "expired"
)

// Dispatch is a request to deliver a code (or a code-less notice) to a destination.
type Dispatch struct {
	EventID     string
	AccountID   string
	Purpose     string
	Channel     string // SMS, WHATSAPP, EMAIL or SMS_AND_WHATSAPP
	Destination string
	Code        string // empty for notices
	ExpiresAt   time.Time
	Locale      string
}

// Record is what is kept about the delivery of one dispatch. It never holds the code.
type Record struct {
	EventID      string
	AccountID    string
	Purpose      string
	Channel      string
	Destination  string
	Status       Status
	Attempts     int
	SentChannels []string // channels already sent, so a retry does not send them again
	LastError    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Store keeps delivery records. Each method is a single-document write.
type Store interface {
	// Create inserts a record, or returns ErrDuplicate when one with the same event id exists.
	Create(ctx context.Context, r Record) error
	// Get returns the record of an event.
	Get(ctx context.Context, eventID string) (Record, error)
	// StartAttempt counts one more attempt and returns the record as it is now.
	StartAttempt(ctx context.Context, eventID string, at time.Time) (Record, error)
	// MarkChannelSent records that the message for channel went out.
	MarkChannelSent(ctx context.Context, eventID, channel string, at time.Time) error
	// Finish sets a final status (and the last error, if any).
	Finish(ctx context.Context, eventID string, status Status, lastError string, at time.Time) error
	// RecordError keeps the last error of an attempt that will be retried.
	RecordError(ctx context.Context, eventID, lastError string, at time.Time) error
}

// ErrDuplicate: a record for the event exists already.
var ErrDuplicate = errors.New("delivery already recorded")

// InvalidDispatchError is a dispatch that can never be delivered (unknown purpose or channel, a code
// missing); retrying it is pointless, so it is recorded as failed.
type InvalidDispatchError struct{ Reason string }

func (e *InvalidDispatchError) Error() string { return "invalid dispatch: " + e.Reason }

func invalid(format string, args ...any) error {
	return &InvalidDispatchError{Reason: fmt.Sprintf(format, args...)}
}

// Service delivers dispatches.
type Service struct {
	store       Store
	sender      Sender
	log         *slog.Logger
	now         func() time.Time
	maxAttempts int
}

// Options tune a Service; zero values take the defaults.
type Options struct {
	MaxAttempts int              // failed sends before giving up (default 5)
	Now         func() time.Time // the clock (default time.Now)
}

// NewService returns a Service that records in store and sends through sender.
func NewService(store Store, sender Sender, log *slog.Logger, o Options) *Service {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{store: store, sender: sender, log: log, now: func() time.Time { return o.Now().UTC() }, maxAttempts: o.MaxAttempts}
}

// Deliver delivers a dispatch at least once and, for a given event id, at most once as far as this
// service can tell. It returns an error only when the caller should retry (a store or send failure);
// an expired code, an invalid dispatch or a duplicate event are recorded (or recognised) and return nil.
func (s *Service) Deliver(ctx context.Context, d Dispatch) error {
	now := s.now()
	rec := Record{
		EventID: d.EventID, AccountID: d.AccountID, Purpose: d.Purpose, Channel: d.Channel,
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
	switch {
	case errors.Is(err, ErrDuplicate):
		existing, err := s.store.Get(ctx, d.EventID)
		if err != nil {
			return err
		}
		if existing.Status != StatusQueued {
			s.log.InfoContext(ctx, "duplicate otp dispatch ignored", "event_id", d.EventID, "status", existing.Status)
			return nil
		}
		// Queued: an earlier attempt failed or was interrupted. Carry on from where it stopped, unless
		// the dispatch has become undeliverable meanwhile.
		if rec.Status != StatusQueued {
			return s.store.Finish(ctx, d.EventID, rec.Status, rec.LastError, now)
		}
	case err != nil:
		return err
	}
	switch rec.Status {
	case StatusFailed:
		s.log.ErrorContext(ctx, "otp dispatch cannot be delivered", "event_id", d.EventID, "err", composeErr)
		return nil
	case StatusExpired:
		s.log.WarnContext(ctx, "otp dispatch expired before delivery", "event_id", d.EventID, "purpose", d.Purpose)
		return nil
	}

	rec, err = s.store.StartAttempt(ctx, d.EventID, now)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if slices.Contains(rec.SentChannels, m.Channel) {
			continue
		}
		if err := s.sender.Send(ctx, m); err != nil {
			return s.failed(ctx, rec, fmt.Errorf("send %s message %s: %w", m.Channel, m.ID, err))
		}
		if err := s.store.MarkChannelSent(ctx, d.EventID, m.Channel, s.now()); err != nil {
			return err
		}
	}
	if err := s.store.Finish(ctx, d.EventID, StatusSent, "", s.now()); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "otp dispatch delivered", "event_id", d.EventID, "purpose", d.Purpose, "channel", d.Channel, "messages", len(msgs))
	return nil
}

// failed records a failed send: the error is returned for a retry until the attempts run out, then
// the delivery is marked failed and the event let go.
func (s *Service) failed(ctx context.Context, rec Record, sendErr error) error {
	now := s.now()
	if rec.Attempts >= s.maxAttempts {
		s.log.ErrorContext(ctx, "otp dispatch failed for good", "event_id", rec.EventID, "attempts", rec.Attempts, "err", sendErr)
		return s.store.Finish(ctx, rec.EventID, StatusFailed, sendErr.Error(), now)
	}
	if err := s.store.RecordError(ctx, rec.EventID, sendErr.Error(), now); err != nil {
		return errors.Join(sendErr, err)
	}
	return sendErr
}

func expired(d Dispatch, now time.Time) bool {
	return !d.ExpiresAt.IsZero() && !now.Before(d.ExpiresAt)
}
