package httpapi

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"
	twclient "github.com/twilio/twilio-go/client"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
	"github.com/latchkey/latchkey/services/notification/internal/store"
)

// StatusRecorder applies a provider's status report to the message it names (store.Deliveries).
type StatusRecorder interface {
	ProviderStatus(ctx context.Context, providerID string, status delivery.Status, providerStatus, errorText string, at time.Time) (delivery.MessageRecord, error)
}

// StatusCallback verifies and applies Twilio's message status callbacks.
type StatusCallback struct {
	validator twclient.RequestValidator
	url       string
	recorder  StatusRecorder
	now       func() time.Time
}

// NewStatusCallback returns the callback for messages sent with StatusCallback = url. Twilio signs
// the URL it was given (not the one this service sees behind the ingress) with the account's auth
// token, so both come from the configuration.
func NewStatusCallback(authToken, url string, recorder StatusRecorder) *StatusCallback {
	return &StatusCallback{validator: twclient.NewRequestValidator(authToken), url: url, recorder: recorder, now: time.Now}
}

// twilioStatuses maps Twilio's MessageStatus to a message's state. Statuses before "sent" (queued,
// accepted, scheduled, sending) leave it at sent: the message has left this service.
var twilioStatuses = map[string]delivery.Status{
	"accepted": delivery.StatusSent, "scheduled": delivery.StatusSent, "queued": delivery.StatusSent,
	"sending": delivery.StatusSent, "sent": delivery.StatusSent,
	"delivered": delivery.StatusDelivered, "read": delivery.StatusDelivered,
	"undelivered": delivery.StatusFailed, "failed": delivery.StatusFailed, "canceled": delivery.StatusFailed,
}

// twilioStatus is POST /api/v1/notifications/twilio/status: 204 when applied, 202 when kept for a
// message whose SID is not stored yet (applied when it is), 403 without a valid X-Twilio-Signature,
// 422 without MessageSid or with an unknown MessageStatus.
func (h *Handler) twilioStatus(c *fiber.Ctx) error {
	params := map[string]string{}
	c.Request().PostArgs().VisitAll(func(k, v []byte) { params[string(k)] = string(v) })
	signature := c.Get("X-Twilio-Signature")
	if signature == "" || !h.status.validator.Validate(h.status.url, params, signature) {
		h.log.WarnContext(c.UserContext(), "twilio status callback with an invalid signature", "ip", c.IP())
		return wire.Forbidden("Invalid signature")
	}
	sid, providerStatus := params["MessageSid"], params["MessageStatus"]
	var fields []wire.FieldError
	if sid == "" {
		fields = append(fields, wire.Body("MessageSid", "Field required", "missing"))
	}
	status, known := twilioStatuses[providerStatus]
	if !known {
		fields = append(fields, wire.Body("MessageStatus", "Unknown message status", "enum"))
	}
	if len(fields) > 0 {
		return wire.Invalid(fields...)
	}
	errorText := ""
	if code := params["ErrorCode"]; code != "" {
		errorText = "twilio error " + code
		if msg := params["ErrorMessage"]; msg != "" {
			errorText += ": " + msg
		}
	}
	rec, err := h.status.recorder.ProviderStatus(c.UserContext(), sid, status, providerStatus, errorText, h.status.now())
	if errors.Is(err, store.ErrStatusPending) {
		// Twilio called back before the sender stored the SID: the report is kept and applied when
		// it is. 202 (not 404): Twilio does not retry callbacks, so a 4xx would lose it.
		h.log.InfoContext(c.UserContext(), "twilio status for a message not stored yet: kept", "provider_status", providerStatus)
		return c.SendStatus(fiber.StatusAccepted)
	}
	if errors.Is(err, store.ErrNotFound) {
		return wire.NotFound("Not Found")
	}
	if err != nil {
		return err
	}
	h.log.InfoContext(c.UserContext(), "twilio status", "message_id", rec.ID, "provider_status", providerStatus, "status", rec.Status)
	return c.SendStatus(fiber.StatusNoContent)
}
