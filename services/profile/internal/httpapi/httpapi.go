// Package httpapi serves the profile API over Fiber, in the plain wire style: /api/v1/me
// (profile-api.txt) and /api/v1/auth/me (the AudioPod-style account paths). It authenticates the
// caller, validates edits, calls the profile service and renders the profile. Routes are registered in
// Routes only.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// Profiles is what the API needs of the profile service.
type Profiles interface {
	Get(ctx context.Context, accountID string) (profile.Profile, error)
	Update(ctx context.Context, accountID string, ch profile.Changes) (profile.Profile, error)
}

// Handler holds the API's dependencies.
type Handler struct {
	profiles Profiles
	log      *slog.Logger
}

// NewHandler returns the API handlers.
func NewHandler(profiles Profiles, log *slog.Logger) *Handler {
	return &Handler{profiles: profiles, log: log}
}

// Routes registers every public route of the profile service, with paths as the API documents
// spell them. requireAuth is authn.Middleware: it answers 401 for a missing, invalid or revoked token.
// Paths under /api/v1/me that are not listed here answer 404 (plain) from the app's error handler.
//
// API keys: requireAuth alone lets a key read (read scope) and nothing else; the profile edits are
// opened to keys with the write scope by authn.KeysMayWrite, except the phone: a key never changes
// a contact (DESIGN.md), so a body naming a phone field is refused whole with 403.
func Routes(app *fiber.App, requireAuth fiber.Handler, h *Handler) {
	keysEditProfile := authn.KeysMayWrite(requireAuth, keyRefusedFields...)
	app.Get("/api/v1/me", requireAuth, h.getMe)
	app.Patch("/api/v1/me", keysEditProfile, h.patchMe)
	app.Get("/api/v1/auth/me", requireAuth, h.getAuthMe)
	app.Patch("/api/v1/auth/me", keysEditProfile, h.patchAuthMe)
}

// keyRefusedFields are the profile fields an API key may never send: the phone of both PATCH
// bodies (every spelling, on both paths).
var keyRefusedFields = []string{"phone", "phone_number", "country_code"}

// Me is the body of GET and PATCH /api/v1/me. Pointers render unset values as null. Email, username,
// phone and phone_verified are identity's facts as last projected.
type Me struct {
	ID            string  `json:"id"`
	Email         *string `json:"email"`
	Username      *string `json:"username"`
	FirstName     *string `json:"first_name"`
	LastName      *string `json:"last_name"`
	DisplayName   *string `json:"display_name"`
	Phone         *string `json:"phone"`
	PhoneVerified bool    `json:"phone_verified"`
	Locale        *string `json:"locale"`
	Timezone      *string `json:"timezone"`
	AvatarURL     *string `json:"avatar_url"`
	Bio           *string `json:"bio"`
	Location      *string `json:"location"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	// PendingPhone (not in profile-api.txt) is a number set here and not verified yet; phone stays the
	// verified one until it is. Absent when there is none.
	PendingPhone *string `json:"pending_phone,omitempty"`
}

func (h *Handler) getMe(c *fiber.Ctx) error {
	principal := authn.MustPrincipal(c)
	p, err := h.profiles.Get(c.UserContext(), principal.AccountID)
	if err != nil {
		return h.fail(c, err)
	}
	return wire.OK(c, fiber.StatusOK, "", toMe(p))
}

func toMe(p profile.Profile) Me {
	return Me{
		ID:            p.AccountID,
		Email:         nullable(p.Email),
		Username:      nullable(p.Username),
		FirstName:     nullable(p.FirstName),
		LastName:      nullable(p.LastName),
		DisplayName:   nullable(p.DisplayName),
		Phone:         nullable(p.Phone),
		PhoneVerified: p.Phone != "" && p.PhoneVerified,
		PendingPhone:  pendingPhone(p),
		Locale:        nullable(p.Locale),
		Timezone:      nullable(p.Timezone),
		AvatarURL:     nullable(p.AvatarURL),
		Bio:           nullable(p.Bio),
		Location:      nullable(p.Location),
		CreatedAt:     timestamp(p.CreatedAt),
		UpdatedAt:     timestamp(p.UpdatedAt),
	}
}

// pendingPhone is the account's pending phone when it differs from the one shown, else nil.
func pendingPhone(p profile.Profile) *string {
	if p.PendingPhone == p.Phone {
		return nil
	}
	return nullable(p.PendingPhone)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// fail maps domain errors to wire errors; anything unexpected becomes a 500 that the app's error
// handler logs.
func (h *Handler) fail(c *fiber.Ctx, err error) error {
	switch {
	case errors.Is(err, profile.ErrUnavailable):
		h.log.WarnContext(c.UserContext(), "profile store unavailable", "err", err)
		return wire.Unavailable("Service temporarily unavailable")
	case errors.Is(err, profile.ErrNotFound):
		return wire.NotFound("Profile not found")
	case errors.Is(err, profile.ErrPhoneTaken):
		return wire.Conflict("Phone number is already in use by another account")
	}
	var throttled *profile.PhoneChangesThrottledError
	if errors.As(err, &throttled) {
		return wire.TooManyRequests("Too many phone number changes; try again later", throttled.RetryAfter)
	}
	return err
}
