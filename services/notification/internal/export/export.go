// Package export is the notification service's part of an account's data export: on
// account.export_requested (account.events.v1) it reads the account's delivery records (deliveries
// and their messages: purpose, kind, channel, destination, status, times) and queues one
// events.ExportPart on account.exports.v1 through the outbox. Codes are never stored, so never
// exported; provider errors and message ids are left out.
package export

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

// MaxDeliveries bounds the delivery records one export reads (newest first).
const MaxDeliveries = 2000

// Deliveries reads an account's delivery records (store.Deliveries).
type Deliveries interface {
	ForAccount(ctx context.Context, accountID string, limit int) ([]delivery.Record, error)
	MessagesOf(ctx context.Context, eventIDs []string) ([]delivery.MessageRecord, error)
}

// Outbox queues an event (kafkax.Outbox).
type Outbox interface {
	Add(ctx context.Context, topic string, ev events.Envelope) error
}

// Exporter builds and sends the notification service's export parts.
type Exporter struct {
	deliveries Deliveries
	outbox     Outbox
	log        *slog.Logger
}

// New returns an Exporter. log nil means slog.Default().
func New(deliveries Deliveries, outbox Outbox, log *slog.Logger) *Exporter {
	if log == nil {
		log = slog.Default()
	}
	return &Exporter{deliveries: deliveries, outbox: outbox, log: log}
}

// Data is the notification service's part.
type Data struct {
	Deliveries []Delivery `json:"deliveries"`
	// Truncated: the oldest records were left out to keep the part under events.MaxExportPartBytes.
	Truncated bool `json:"truncated,omitempty"`
}

// Delivery is one code or alert sent (or attempted) to the account.
type Delivery struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind,omitempty"` // otp or alert
	Purpose     string    `json:"purpose"`        // the code's purpose or the alert's kind
	Channel     string    `json:"channel"`
	Destination string    `json:"destination"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	Messages    []Message `json:"messages"`
}

// Message is one message of a delivery (one per channel tried).
type Message struct {
	Channel     string    `json:"channel"`
	Destination string    `json:"destination"`
	Status      string    `json:"status"`
	Attempts    int       `json:"attempts"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Part returns the JSON of accountID's part.
func (e *Exporter) Part(ctx context.Context, accountID string) (json.RawMessage, error) {
	records, err := e.deliveries.ForAccount(ctx, accountID, MaxDeliveries)
	if err != nil {
		return nil, fmt.Errorf("read deliveries: %w", err)
	}
	ids := make([]string, len(records))
	for i, r := range records {
		ids[i] = r.EventID
	}
	msgs, err := e.deliveries.MessagesOf(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read delivery messages: %w", err)
	}
	byEvent := map[string][]Message{}
	for _, m := range msgs {
		byEvent[m.EventID] = append(byEvent[m.EventID], Message{
			Channel: m.Channel, Destination: m.Destination, Status: string(m.Status), Attempts: m.Attempts,
			CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
		})
	}
	data := Data{Deliveries: make([]Delivery, 0, len(records))}
	for _, r := range records {
		m := byEvent[r.EventID]
		if m == nil {
			m = []Message{}
		}
		data.Deliveries = append(data.Deliveries, Delivery{
			ID: r.EventID, Kind: r.Kind, Purpose: r.Purpose, Channel: r.Channel, Destination: r.Destination,
			Status: string(r.Status), Attempts: r.Attempts, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Messages: m,
		})
	}
	raw, _, err := events.MarshalExportData(&data, func() bool {
		if len(data.Deliveries) == 0 {
			return false
		}
		data.Deliveries, data.Truncated = data.Deliveries[:len(data.Deliveries)/2], true // newest first: the oldest go
		return true
	})
	return raw, err
}

// Handle returns next wrapped for account.events.v1: account.export_requested is answered with the
// notification part (kafkax.AnswerExportRequests), every other type goes to next.
func (e *Exporter) Handle(next func(context.Context, events.Envelope) error) func(context.Context, events.Envelope) error {
	return kafkax.AnswerExportRequests(events.ExportServiceNotification, e.Part, e.outbox, e.log, next)
}
