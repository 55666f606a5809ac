package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// Messages of account deletion.
const (
	msgDeletionScheduled        = "Account deletion scheduled"
	msgDeletionAlreadyScheduled = "Account deletion is already scheduled"
	msgDeletionStatus           = "Account deletion status retrieved successfully"
	msgDeletionCancelled        = "Account deletion cancelled"
	msgNoDeletionScheduled      = "No account deletion is scheduled"
)

// registerDeletion mounts account deletion (envelope style, issue 17):
//
//	DELETE /api/v1/account                 schedule deletion after the grace period (step-up; 202)
//	GET    /api/v1/account/deletion        the scheduled deletion, if any
//	POST   /api/v1/account/deletion/cancel cancel it (signed in; no step-up)
//
// API keys reach none of them: the writes are closed to keys by requireAuth and requireStepUp, the
// read by authn.SignedInOnly.
func registerDeletion(app *fiber.App, requireAuth fiber.Handler, h *Handler) {
	app.Delete("/api/v1/account", requireAuth, h.requireStepUp, h.scheduleDeletion)
	app.Get("/api/v1/account/deletion", authn.SignedInOnly(requireAuth), h.deletionStatus)
	app.Post("/api/v1/account/deletion/cancel", authn.SignedInOnly(requireAuth), h.cancelDeletion)
}

type deletionBody struct {
	Scheduled   bool    `json:"scheduled"`
	ScheduledAt *string `json:"scheduledAt,omitempty"`
	DeleteAt    *string `json:"deleteAt,omitempty"`
}

type scheduledBody struct {
	DeleteAt string `json:"deleteAt"`
}

func timestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// DELETE /api/v1/account — schedules the caller's account for deletion at now + the grace period.
// Every session and API key ends; signing in again during the grace period and cancelling keeps the
// account.
func (h *Handler) scheduleDeletion(c *fiber.Ctx) error {
	deleteAt, err := h.auth.ScheduleDeletion(c.UserContext(), authn.MustPrincipal(c).AccountID, events.Actor{Type: events.ActorOwner})
	switch {
	case errors.Is(err, auth.ErrDeletionScheduled):
		return wire.Conflict(msgDeletionAlreadyScheduled)
	case err != nil:
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	return wire.OK(c, http.StatusAccepted, msgDeletionScheduled, scheduledBody{DeleteAt: deleteAt.UTC().Format(time.RFC3339)})
}

// GET /api/v1/account/deletion — {scheduled, scheduledAt, deleteAt}.
func (h *Handler) deletionStatus(c *fiber.Ctx) error {
	st, err := h.auth.DeletionOf(c.UserContext(), authn.MustPrincipal(c).AccountID)
	if err != nil {
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	body := deletionBody{Scheduled: st.Scheduled}
	if st.Scheduled {
		body.ScheduledAt, body.DeleteAt = timestamp(st.ScheduledAt), timestamp(st.DeleteAt)
	}
	return wire.OK(c, http.StatusOK, msgDeletionStatus, body)
}

// POST /api/v1/account/deletion/cancel — cancels the caller's scheduled deletion. Signed in only,
// no step-up: keeping the account is the safe direction, and whoever holds a session of it could sign
// in anyway (the owner is alerted).
func (h *Handler) cancelDeletion(c *fiber.Ctx) error {
	err := h.auth.CancelDeletion(c.UserContext(), caller(c))
	switch {
	case errors.Is(err, auth.ErrNoDeletionScheduled):
		return wire.Conflict(msgNoDeletionScheduled)
	case err != nil:
		return credentialFailure(c, err, passwordFieldEnvelope)
	}
	return wire.OK(c, http.StatusOK, msgDeletionCancelled, deletionBody{Scheduled: false})
}

// securityInfoWithDeletion is security-info with the scheduled deletion, when there is one.
type securityInfoWithDeletion struct {
	securityInfoBody
	DeletionScheduledAt *string `json:"deletionScheduledAt,omitempty"`
	DeleteAt            *string `json:"deleteAt,omitempty"`
}

// withDeletion adds the caller's scheduled deletion to security-info. The deletion is a fact the owner
// must not miss, but not one to fail the overview for: a read error leaves it out (logged).
func (h *Handler) withDeletion(c *fiber.Ctx, body securityInfoBody) securityInfoWithDeletion {
	out := securityInfoWithDeletion{securityInfoBody: body}
	st, err := h.auth.DeletionOf(c.UserContext(), authn.MustPrincipal(c).AccountID)
	if err != nil {
		h.log.WarnContext(c.UserContext(), "read scheduled deletion for security-info", "err", err)
		return out
	}
	if st.Scheduled {
		out.DeletionScheduledAt, out.DeleteAt = timestamp(st.ScheduledAt), timestamp(st.DeleteAt)
	}
	return out
}
