package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/e164"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
)

// Both PATCH bodies follow the same rules: a field that is absent or null stays as it is; an empty
// string clears an optional text field; every string has a length limit; fields the endpoint does not
// know (including read-only ones such as email or is_verified) are ignored, as FastAPI does. Every
// failed rule is reported at once (422), except an unusable phone number on /api/v1/auth/me, which is
// the 400 the AudioPod document prescribes.

// Messages of the AudioPod-style phone errors (400).
const (
	msgInvalidPhone       = "Invalid phone number format. Use international format (+1234567890)"
	msgUnsupportedCountry = "Unsupported country code"
)

// updateProfileRequest is profile-api.txt's UpdateProfileRequest, plus the public-face fields bio,
// location and avatar_url.
type updateProfileRequest struct {
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	DisplayName *string `json:"display_name"`
	Phone       *string `json:"phone"`
	Locale      *string `json:"locale"`
	Timezone    *string `json:"timezone"`
	Bio         *string `json:"bio"`
	Location    *string `json:"location"`
	AvatarURL   *string `json:"avatar_url"`
}

// updateAccountRequest is the AudioPod document's PATCH /api/v1/auth/me body.
type updateAccountRequest struct {
	FullName       *string `json:"full_name"`
	UserType       *string `json:"user_type"`
	AudioUsage     *string `json:"audio_usage"`
	ReferralSource *string `json:"referral_source"`
	PhoneNumber    *string `json:"phone_number"`
	CountryCode    *string `json:"country_code"`
}

// text checks an optional free-text field: trimmed, at most max characters, no control characters.
func text(v *wire.Checker, field string, value *string, max int) *string {
	if value == nil {
		return nil
	}
	s := strings.TrimSpace(*value)
	v.MaxLen(field, s, max)
	v.Check(!strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }),
		field, "String should not contain control characters", "string_pattern_mismatch")
	return &s
}

// name checks an optional name field like text, and refuses invisible and bidirectional formatting
// characters too: a name must look like what it is (see wire.UnsafeTextRune).
func name(v *wire.Checker, field string, value *string, max int) *string {
	s := text(v, field, value, max)
	if s != nil && !v.Failed(field) {
		v.PlainText(field, *s)
	}
	return s
}

// PATCH /api/v1/me
func (h *Handler) patchMe(c *fiber.Ctx) error {
	var req updateProfileRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	ch := profile.Changes{
		FirstName:   name(v, "first_name", req.FirstName, profile.MaxName),
		LastName:    name(v, "last_name", req.LastName, profile.MaxName),
		DisplayName: name(v, "display_name", req.DisplayName, profile.MaxDisplayName),
		Bio:         text(v, "bio", req.Bio, profile.MaxBio),
		Location:    text(v, "location", req.Location, profile.MaxLocation),
		AvatarURL:   text(v, "avatar_url", req.AvatarURL, profile.MaxAvatarURL),
		Locale:      text(v, "locale", req.Locale, profile.MaxLocale),
		Timezone:    text(v, "timezone", req.Timezone, profile.MaxTimezone),
	}
	if ch.Locale != nil && *ch.Locale != "" && !v.Failed("locale") {
		tag, ok := profile.NormalizeLocale(*ch.Locale)
		v.Check(ok, "locale", "Value error, locale must be a BCP 47 language tag such as 'en' or 'pt-BR'", "value_error")
		ch.Locale = &tag
	}
	if ch.Timezone != nil && *ch.Timezone != "" && !v.Failed("timezone") {
		v.Check(profile.ValidTimezone(*ch.Timezone), "timezone", "Value error, timezone must be an IANA time zone name such as 'Europe/Berlin'", "value_error")
	}
	if ch.AvatarURL != nil && *ch.AvatarURL != "" && !v.Failed("avatar_url") {
		v.Check(profile.ValidAvatarURL(*ch.AvatarURL), "avatar_url", "Value error, avatar_url must be an absolute https URL", "value_error")
	}
	if req.Phone != nil {
		phone, ok := "", len(*req.Phone) <= profile.MaxPhone
		if ok {
			phone, ok = normalizePhone(*req.Phone, "")
		}
		v.Check(ok, "phone", "Value error, phone must be an international number in E.164 format such as +14155550123", "value_error")
		ch.Phone, ch.ClientIP = &phone, httpx.ClientIP(c)
	}
	if err := v.Err(); err != nil {
		return err
	}
	p, err := h.profiles.Update(c.UserContext(), authn.MustPrincipal(c).AccountID, ch)
	if err != nil {
		return h.fail(c, err)
	}
	return wire.OK(c, fiber.StatusOK, "", toMe(p))
}

// AccountMe is the body of GET and PATCH /api/v1/auth/me (the AudioPod user; billing fields are out
// of scope). Email, username, phone_number, is_active, is_verified and phone_verified are identity's
// facts as last projected.
type AccountMe struct {
	ID                  string  `json:"id"`
	Email               *string `json:"email"`
	Username            *string `json:"username"`
	FullName            *string `json:"full_name"`
	IsActive            bool    `json:"is_active"`
	IsVerified          bool    `json:"is_verified"`
	CreatedAt           string  `json:"created_at"`
	UpdatedAt           string  `json:"updated_at"`
	Image               *string `json:"image"`
	UserType            *string `json:"user_type"`
	AudioUsage          *string `json:"audio_usage"`
	OnboardingCompleted bool    `json:"onboarding_completed"`
	ReferralSource      *string `json:"referral_source"`
	PhoneNumber         *string `json:"phone_number"`
	CountryCode         *string `json:"country_code"`
	PhoneVerified       bool    `json:"phone_verified"`
	// IsSuperuser is the AudioPod document's flag. Latchkey has no superusers (no administrative
	// accounts) yet, so it is always false.
	IsSuperuser bool `json:"is_superuser"`
	// PendingPhoneNumber (not in the AudioPod document) is a number set here and not verified yet;
	// phone_number stays the verified one until it is. Absent when there is none.
	PendingPhoneNumber *string `json:"pending_phone_number,omitempty"`
}

func toAccountMe(p profile.Profile) AccountMe {
	var country *string
	if p.CountryCode != "" && strings.HasPrefix(p.Phone, p.CountryCode) {
		country = &p.CountryCode
	}
	return AccountMe{
		ID: p.AccountID, Email: nullable(p.Email), Username: nullable(p.Username), FullName: nullable(p.FullName()),
		IsActive: p.Active(), IsVerified: p.Email != "" && p.EmailVerified,
		CreatedAt: timestamp(p.CreatedAt), UpdatedAt: timestamp(p.UpdatedAt), Image: nullable(p.AvatarURL),
		UserType: nullable(p.UserType), AudioUsage: nullable(p.AudioUsage), OnboardingCompleted: p.PrimaryComplete(),
		ReferralSource: nullable(p.ReferralSource), PhoneNumber: nullable(p.Phone), CountryCode: country,
		PhoneVerified: p.Phone != "" && p.PhoneVerified, PendingPhoneNumber: pendingPhone(p),
	}
}

// GET /api/v1/auth/me
func (h *Handler) getAuthMe(c *fiber.Ctx) error {
	p, err := h.profiles.Get(c.UserContext(), authn.MustPrincipal(c).AccountID)
	if err != nil {
		return h.fail(c, err)
	}
	return wire.OK(c, fiber.StatusOK, "", toAccountMe(p))
}

// PATCH /api/v1/auth/me
func (h *Handler) patchAuthMe(c *fiber.Ctx) error {
	var req updateAccountRequest
	if err := wire.Decode(c, &req); err != nil {
		return err
	}
	v := wire.NewChecker()
	ch := profile.Changes{
		FullName:       name(v, "full_name", req.FullName, profile.MaxFullName),
		ReferralSource: text(v, "referral_source", req.ReferralSource, profile.MaxReferralSource),
	}
	if req.UserType != nil {
		v.Check(*req.UserType != "", "user_type", "Input should be 'individual' or 'company'", "enum")
		v.OneOf("user_type", *req.UserType, profile.UserTypes...)
		ch.UserType = req.UserType
	}
	if req.AudioUsage != nil {
		v.Check(*req.AudioUsage != "", "audio_usage", "Input should be one of the documented audio usages", "enum")
		v.OneOf("audio_usage", *req.AudioUsage, profile.AudioUsages...)
		ch.AudioUsage = req.AudioUsage
	}
	if req.CountryCode != nil {
		v.MaxLen("country_code", *req.CountryCode, profile.MaxCountryCode+2)
	}
	if req.PhoneNumber != nil {
		v.MaxLen("phone_number", *req.PhoneNumber, profile.MaxPhone+10)
	}
	if err := v.Err(); err != nil {
		return err
	}
	// The phone rules answer 400, with the AudioPod document's causes.
	country := ""
	if req.CountryCode != nil && strings.TrimSpace(*req.CountryCode) != "" {
		cc, ok := profile.NormalizeCountryCode(*req.CountryCode)
		if !ok {
			return wire.BadRequest(msgUnsupportedCountry)
		}
		country = cc
	}
	if req.PhoneNumber != nil {
		phone, ok := normalizePhone(*req.PhoneNumber, country)
		if !ok {
			return wire.BadRequest(msgInvalidPhone)
		}
		ch.Phone, ch.ClientIP = &phone, httpx.ClientIP(c)
		ch.CountryCode = &country
	} else if req.CountryCode != nil {
		return wire.Invalid(wire.Body("country_code", "Value error, country_code is only accepted together with phone_number", "value_error"))
	}
	p, err := h.profiles.Update(c.UserContext(), authn.MustPrincipal(c).AccountID, ch)
	if err != nil {
		return h.fail(c, err)
	}
	return wire.OK(c, fiber.StatusOK, "", toAccountMe(p))
}

// normalizePhone is e164.Normalize reporting success as a bool, as the validators here want it.
func normalizePhone(number, countryCode string) (string, bool) {
	n, err := e164.Normalize(number, countryCode)
	return n, err == nil
}
