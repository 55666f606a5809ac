package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func TestEmailLink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	adaID, adaToken := h.signedUp(t, "ada@example.com", "ada", "laptop")
	_, bobToken := h.signedUp(t, "bob@example.com", "bob", "bob-laptop")

	validation := []struct {
		name, path string
		body       any
		want       int
		field      string
	}{
		{"no body", "/api/v1/account/link/email/initiate", nil, http.StatusBadRequest, ""},
		{"malformed JSON", "/api/v1/account/link/email/initiate", "{", http.StatusBadRequest, ""},
		{"email missing", "/api/v1/account/link/email/initiate", map[string]any{}, http.StatusUnprocessableEntity, "email"},
		{"email blank", "/api/v1/account/link/email/initiate", map[string]any{"email": "  "}, http.StatusUnprocessableEntity, "email"},
		{"email invalid", "/api/v1/account/link/email/initiate", map[string]any{"email": "not-an-email"}, http.StatusUnprocessableEntity, "email"},
		{"email of wrong type", "/api/v1/account/link/email/initiate", map[string]any{"email": 7}, http.StatusUnprocessableEntity, "email"},
		{"tempToken missing", "/api/v1/account/link/email/verify", map[string]any{"otp": "123456"}, http.StatusUnprocessableEntity, "tempToken"},
		{"otp too short", "/api/v1/account/link/email/verify", map[string]any{"tempToken": "elt_x", "otp": "12345"}, http.StatusUnprocessableEntity, "otp"},
		{"otp not digits", "/api/v1/account/link/email/verify", map[string]any{"tempToken": "elt_x", "otp": "12345a"}, http.StatusUnprocessableEntity, "otp"},
	}
	for _, tc := range validation {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "POST", tc.path, adaToken, tc.body)
			if r.status != tc.want || r.at("success") != false {
				t.Fatalf("status = %d %s, want the %d envelope", r.status, r.raw, tc.want)
			}
			if tc.field != "" && r.str("data."+tc.field) == "" {
				t.Errorf("data = %v, want a message for %s", r.at("data"), tc.field)
			}
		})
	}
	if r := h.callAs(t, "POST", "/api/v1/account/link/email/initiate", "", map[string]any{"email": "x@example.com"}); r.status != http.StatusUnauthorized {
		t.Errorf("initiate without token = %d, want 401", r.status)
	}
	if r := h.callAs(t, "POST", "/api/v1/account/link/email/initiate", adaToken, map[string]any{"email": "ADA@example.com"}); r.status != http.StatusBadRequest {
		t.Errorf("initiate with the current address = %d %s, want 400", r.status, r.raw)
	}

	// Initiate: the code goes to the new address, and only there.
	r := h.callAs(t, "POST", "/api/v1/account/link/email/initiate", adaToken, map[string]any{"email": " Ada.New@Example.com "}).wantStatus(t, http.StatusOK, "initiate")
	if r.str("message") != "Verification code sent" || r.str("data.maskedValue") != "ad***@example.com" || r.at("data.expiresIn") != float64(600) ||
		r.at("data.linked") != false || r.str("data.message") != "Verification code sent to ad***@example.com" || len(r.str("data.tempToken")) < 40 {
		t.Fatalf("initiate = %s", r.raw)
	}
	temp := r.str("data.tempToken")
	d := h.dispatches(t, "ada.new@example.com")
	if len(d) != 1 || d[0].Purpose != events.PurposeEmailVerification || d[0].Channel != events.ChannelEmail {
		t.Fatalf("dispatches = %+v, want one email_verification code to the new address", d)
	}
	code := d[0].Code

	// Another account cannot use the temp token; a wrong code is a 403.
	if r := h.callAs(t, "POST", "/api/v1/account/link/email/verify", bobToken, map[string]any{"tempToken": temp, "otp": code}); r.status != http.StatusForbidden {
		t.Errorf("bob verifying ada's token = %d %s, want 403", r.status, r.raw)
	}
	// Bob's try used one of the code's tries but not the code: ada can still finish.
	if r := h.callAs(t, "POST", "/api/v1/account/link/email/verify", adaToken, map[string]any{"tempToken": temp, "otp": otherCode(code)}); r.status != http.StatusForbidden || r.str("message") != "Invalid or expired code" {
		t.Errorf("wrong code = %d %s, want 403", r.status, r.raw)
	}
	r = h.callAs(t, "POST", "/api/v1/account/link/email/verify", adaToken, map[string]any{"tempToken": temp, "otp": code}).wantStatus(t, http.StatusOK, "verify")
	if r.str("message") != "Email linked successfully" || r.at("data.linked") != true || r.str("data.message") != "Email linked successfully" {
		t.Errorf("verify = %s", r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/account/link/email/verify", adaToken, map[string]any{"tempToken": temp, "otp": code}); r.status != http.StatusForbidden {
		t.Errorf("token reused = %d, want 403", r.status)
	}
	a, err := store.NewAccounts(h.db).ByID(context.Background(), adaID)
	if err != nil || a.Email != "ada.new@example.com" || !a.EmailVerified {
		t.Fatalf("account = %+v, %v, want the new verified address", a, err)
	}
	if s := h.lastSnapshot(t, adaID); s.Email != "ada.new@example.com" || !s.EmailVerified {
		t.Errorf("snapshot = %+v, want the new address", s)
	}
	// The previous address is told its replacement (issue 13: "changed", not "added"), with a revert link.
	if al := h.alertOf(t, adaID, events.AlertEmailChanged); al.Destination != "ada@example.com" || al.Details["email"] != "ad***@example.com" ||
		!strings.Contains(al.Details["revertUrl"], "#token=ert_") {
		t.Errorf("alert = %+v, want an email_changed alert with a revert link at the previous address", al)
	}
	if r := h.post(t, "/api/v1/auth/login", login("ada.new@example.com", goodPassword, "laptop")); r.status != http.StatusOK || r.str("access_token") == "" {
		t.Errorf("login with the new address = %d %s", r.status, r.raw)
	}

	// An address another account has: the same answers up to the code, then 400 for whoever has the code.
	r = h.callAs(t, "POST", "/api/v1/account/link/email/initiate", adaToken, map[string]any{"email": "bob@example.com"}).wantStatus(t, http.StatusOK, "initiate taken")
	taken := h.callAs(t, "POST", "/api/v1/account/link/email/verify", adaToken, map[string]any{"tempToken": r.str("data.tempToken"), "otp": h.lastCode(t, "bob@example.com")})
	if taken.status != http.StatusBadRequest || taken.str("message") != "Email address is already in use" {
		t.Errorf("verify taken = %d %s, want 400", taken.status, taken.raw)
	}
}

func TestUnlinkEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	ctx := context.Background()
	accounts := store.NewAccounts(h.db)

	// An account without username: the e-mail is its only identifier for the password.
	solo := accountFor("solo@example.com", "")
	solo.PasswordHash, solo.Phone, solo.PhoneVerified = mustHash(t, h), "+254712345678", true
	if err := accounts.Create(ctx, solo); err != nil {
		t.Fatal(err)
	}
	soloToken := h.sessions.keys.Token(t, solo.ID, events.NewID(), nil)
	r := h.callAs(t, "DELETE", "/api/v1/account/link/email", soloToken, nil)
	if r.status != http.StatusBadRequest || r.str("message") != "Cannot unlink last auth provider" || r.str("data") != "Cannot unlink last auth provider" {
		t.Errorf("unlink only identifier = %d %s, want the documented 400", r.status, r.raw)
	}

	// A username and password but no phone: the e-mail is the only place codes can go.
	adaID, adaToken := h.signedUp(t, "ada@example.com", "ada", "laptop")
	if r := h.callAs(t, "DELETE", "/api/v1/account/link/email", adaToken, nil); r.status != http.StatusBadRequest || r.str("message") != "Cannot unlink the only verified contact; verify a phone number first" {
		t.Errorf("unlink only contact = %d %s, want 400", r.status, r.raw)
	}
	// With a verified phone it goes.
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", adaToken, map[string]any{"phone_number": "+447700900123"}).wantStatus(t, http.StatusOK, "send phone code")
	h.callAs(t, "POST", "/api/v1/auth/verify-phone", adaToken, map[string]any{"phone_number": "+447700900123", "otp_code": h.lastCode(t, "+447700900123")}).wantStatus(t, http.StatusOK, "verify phone")
	r = h.callAs(t, "DELETE", "/api/v1/account/link/email", adaToken, nil).wantStatus(t, http.StatusOK, "unlink")
	if r.str("message") != "Email unlinked" || r.at("data.unlinked") != true || r.str("data.message") != "Email unlinked successfully" {
		t.Errorf("unlink = %s", r.raw)
	}
	if a, _ := accounts.ByID(ctx, adaID); a.Email != "" || a.EmailVerified {
		t.Errorf("account = %+v, want no e-mail", a)
	}
	if s := h.lastSnapshot(t, adaID); s.Email != "" || s.EmailVerified || s.PhoneNumber != "+447700900123" || !s.PhoneVerified {
		t.Errorf("snapshot = %+v, want no e-mail and the verified phone", s)
	}
	if al := h.alertOf(t, adaID, events.AlertEmailUnlinked); al.Destination != "ada@example.com" || al.Channel != events.ChannelEmail {
		t.Errorf("alert = %+v, want it at the removed address", al)
	}
	if r := h.callAs(t, "DELETE", "/api/v1/account/link/email", adaToken, nil); r.status != http.StatusBadRequest || r.str("message") != "No email address on this account" {
		t.Errorf("unlink again = %d %s, want 400", r.status, r.raw)
	}
	// The address is free for registration again, and ada still signs in by username.
	if r := h.post(t, "/api/v1/auth/login", login("ada", goodPassword, "laptop")); r.status != http.StatusOK {
		t.Errorf("login by username = %d %s", r.status, r.raw)
	}
}

func TestPhoneVerification(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown)
	adaID, adaToken := h.signedUp(t, "ada@example.com", "ada", "laptop")
	_, bobToken := h.signedUp(t, "bob@example.com", "bob", "bob-laptop")

	bad := []struct {
		name string
		body any
		want int
	}{
		{"no body", nil, http.StatusUnprocessableEntity},
		{"phone missing", map[string]any{"country_code": "+254"}, http.StatusUnprocessableEntity},
		{"phone of wrong type", map[string]any{"phone_number": 254712345678}, http.StatusUnprocessableEntity},
		{"phone too long for any form", map[string]any{"phone_number": "+2547123456789012345678901234567890"}, http.StatusUnprocessableEntity},
		{"not international", map[string]any{"phone_number": "0712345678"}, http.StatusBadRequest},
		{"letters", map[string]any{"phone_number": "+25471234abcd"}, http.StatusBadRequest},
		{"too short", map[string]any{"phone_number": "+25471"}, http.StatusBadRequest},
		{"country code does not match", map[string]any{"phone_number": "+254712345678", "country_code": "+44"}, http.StatusBadRequest},
		{"country code nonsense", map[string]any{"phone_number": "+254712345678", "country_code": "Kenya"}, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", adaToken, tc.body)
			if r.status != tc.want || r.at("detail") == nil {
				t.Fatalf("status = %d %s, want %d with detail", r.status, r.raw, tc.want)
			}
			if tc.want == http.StatusBadRequest && r.str("detail") != "Invalid phone number format. Use international format (+1234567890)" {
				t.Errorf("detail = %v", r.at("detail"))
			}
		})
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", "", map[string]any{"phone_number": "+254712345678"}); r.status != http.StatusUnauthorized {
		t.Errorf("without token = %d, want 401", r.status)
	}

	// A national number with its calling code becomes E.164.
	r := h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", adaToken, map[string]any{"phone_number": "0712 345 678", "country_code": "+254"}).wantStatus(t, http.StatusOK, "send")
	if r.at("expires_in_minutes") != float64(10) || r.str("message") != "Verification code sent to +254***5678" {
		t.Errorf("send = %s", r.raw)
	}
	d := h.dispatches(t, "+254712345678")
	if len(d) != 1 || d[0].Purpose != events.PurposePhoneVerification || d[0].Channel != events.ChannelSMS {
		t.Fatalf("dispatches = %+v, want one phone_verification SMS", d)
	}

	verifyBad := []struct {
		name string
		body map[string]any
		want int
	}{
		{"code missing", map[string]any{"phone_number": "+254712345678"}, http.StatusUnprocessableEntity},
		{"code malformed", map[string]any{"phone_number": "+254712345678", "otp_code": "12ab56"}, http.StatusUnprocessableEntity},
		{"phone missing", map[string]any{"otp_code": d[0].Code}, http.StatusUnprocessableEntity},
		{"phone invalid", map[string]any{"phone_number": "12", "otp_code": d[0].Code}, http.StatusBadRequest},
		{"wrong code", map[string]any{"phone_number": "+254712345678", "otp_code": otherCode(d[0].Code)}, http.StatusBadRequest},
		{"another number", map[string]any{"phone_number": "+254712345679", "otp_code": d[0].Code}, http.StatusBadRequest},
	}
	for _, tc := range verifyBad {
		t.Run(tc.name, func(t *testing.T) {
			if r := h.callAs(t, "POST", "/api/v1/auth/verify-phone", adaToken, tc.body); r.status != tc.want {
				t.Errorf("status = %d %s, want %d", r.status, r.raw, tc.want)
			}
		})
	}
	// Bob cannot answer ada's code.
	if r := h.callAs(t, "POST", "/api/v1/auth/verify-phone", bobToken, map[string]any{"phone_number": "+254712345678", "otp_code": d[0].Code}); r.status != http.StatusBadRequest {
		t.Errorf("bob answering ada's code = %d %s, want 400", r.status, r.raw)
	}
	r = h.callAs(t, "POST", "/api/v1/auth/verify-phone", adaToken, map[string]any{"phone_number": "+254 712 345 678", "otp_code": d[0].Code}).wantStatus(t, http.StatusOK, "verify")
	if r.at("verified") != true || r.str("message") != "Phone number verified" {
		t.Errorf("verify = %s", r.raw)
	}
	if s := h.lastSnapshot(t, adaID); s.PhoneNumber != "+254712345678" || !s.PhoneVerified {
		t.Errorf("snapshot = %+v, want the verified phone", s)
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", adaToken, map[string]any{"phone_number": "+254712345678"}); r.status != http.StatusBadRequest || r.str("detail") != "Phone number already verified" {
		t.Errorf("send to verified number = %d %s, want 400", r.status, r.raw)
	}

	// Bob asks for the same number: the same answer as any number; the code's holder learns it is taken.
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", bobToken, map[string]any{"phone_number": "+254712345678"}).wantStatus(t, http.StatusOK, "bob send")
	if r := h.callAs(t, "POST", "/api/v1/auth/verify-phone", bobToken, map[string]any{"phone_number": "+254712345678", "otp_code": h.lastCode(t, "+254712345678")}); r.status != http.StatusConflict || r.str("detail") != "Phone number is already in use" {
		t.Errorf("bob verify taken = %d %s, want 409", r.status, r.raw)
	}
}

func TestVerifyEmail(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	accounts := store.NewAccounts(h.db)
	a := accountFor("una@example.com", "una")
	a.EmailVerified, a.PasswordHash = false, mustHash(t, h)
	if err := accounts.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	token := h.sessions.keys.Token(t, a.ID, events.NewID(), nil)
	_, verifiedToken := h.signedUp(t, "ada@example.com", "ada", "laptop")

	if r := h.callAs(t, "POST", "/api/v1/me/verify-email", verifiedToken, nil); r.status != http.StatusBadRequest || r.str("detail") != "Email already verified" {
		t.Errorf("verified account = %d %s, want 400", r.status, r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/me/verify-email", "", nil); r.status != http.StatusUnauthorized || r.str("detail") == "" {
		t.Errorf("without token = %d %s, want plain 401", r.status, r.raw)
	}
	r := h.callAs(t, "POST", "/api/v1/me/verify-email", token, nil).wantStatus(t, http.StatusOK, "request")
	if r.str("masked_value") != "un***@example.com" || r.at("expires_in") != float64(600) || r.str("message") == "" {
		t.Errorf("request = %s", r.raw)
	}
	code := h.lastCode(t, "una@example.com")

	bad := []struct {
		name string
		body any
		want int
	}{
		{"no body", nil, http.StatusUnprocessableEntity},
		{"code missing", map[string]any{}, http.StatusUnprocessableEntity},
		{"code malformed", map[string]any{"code": "1234"}, http.StatusUnprocessableEntity},
		{"wrong code", map[string]any{"code": otherCode(code)}, http.StatusBadRequest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if r := h.callAs(t, "POST", "/api/v1/me/verify-email/confirm", token, tc.body); r.status != tc.want {
				t.Errorf("status = %d %s, want %d", r.status, r.raw, tc.want)
			}
		})
	}
	r = h.callAs(t, "POST", "/api/v1/me/verify-email/confirm", token, map[string]any{"code": code}).wantStatus(t, http.StatusOK, "confirm")
	if r.at("verified") != true {
		t.Errorf("confirm = %s", r.raw)
	}
	if got, _ := accounts.ByID(ctx, a.ID); !got.EmailVerified {
		t.Errorf("account = %+v, want the e-mail verified", got)
	}
	if s := h.lastSnapshot(t, a.ID); !s.EmailVerified {
		t.Errorf("snapshot = %+v, want emailVerified", s)
	}
	if r := h.callAs(t, "POST", "/api/v1/me/verify-email/confirm", token, map[string]any{"code": code}); r.status != http.StatusBadRequest {
		t.Errorf("confirm again = %d, want 400", r.status)
	}
}

func mustHash(t *testing.T, h *harness) string {
	t.Helper()
	hash, err := h.hasher.Hash(goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

func TestContactCodeAbuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	_, token := h.signedUp(t, "ada@example.com", "ada", "laptop")

	// Resend cooldown per destination, on both kinds of code.
	sends := []struct{ path, body, again string }{
		{"/api/v1/auth/send-phone-verification", `{"phone_number":"+254712345678"}`, `{"phone_number":"+254712345678"}`},
		{"/api/v1/account/link/email/initiate", `{"email":"new@example.com"}`, `{"email":"new@example.com"}`},
	}
	for _, s := range sends {
		h.callAs(t, "POST", s.path, token, s.body).wantStatus(t, http.StatusOK, "first send "+s.path)
		r := h.callAs(t, "POST", s.path, token, s.again)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("%s again = %d %s (Retry-After %q), want 429 with Retry-After", s.path, r.status, r.raw, r.header.Get("Retry-After"))
		}
	}

	// Five wrong answers kill the code: the right one fails afterwards.
	code := h.lastCode(t, "+254712345678")
	for range 5 {
		h.callAs(t, "POST", "/api/v1/auth/verify-phone", token, map[string]any{"phone_number": "+254712345678", "otp_code": otherCode(code)}).wantStatus(t, http.StatusBadRequest, "wrong code")
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/verify-phone", token, map[string]any{"phone_number": "+254712345678", "otp_code": code}); r.status != http.StatusBadRequest {
		t.Errorf("right code after 5 wrong ones = %d %s, want 400", r.status, r.raw)
	}

	// The per-account hourly limit (10) holds across destinations.
	limited := false
	for i := range 12 {
		r := h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", token, map[string]any{"phone_number": "+2547000000" + string(rune('1'+i/10)) + string(rune('0'+i%10))})
		if r.status == http.StatusTooManyRequests {
			limited = r.header.Get("Retry-After") != ""
			break
		}
		r.wantStatus(t, http.StatusOK, "send")
	}
	if !limited {
		t.Error("12 codes to different numbers within the hour: no 429, want the per-account limit")
	}
}

func TestContactCodesPerIP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noCooldown, func(s *setup) { s.login.CodeSendPerIP.Max = 3 })
	_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
	_, bob := h.signedUp(t, "bob@example.com", "bob", "bob-laptop")
	// Sends and answers of any account from one address share the limit.
	h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", ada, map[string]any{"phone_number": "+254712345678"}).wantStatus(t, http.StatusOK, "send 1")
	h.callAs(t, "POST", "/api/v1/auth/verify-phone", ada, map[string]any{"phone_number": "+254712345678", "otp_code": "000000"})
	h.callAs(t, "POST", "/api/v1/account/link/email/initiate", bob, map[string]any{"email": "b2@example.com"}).wantStatus(t, http.StatusOK, "send 3")
	r := h.callAs(t, "POST", "/api/v1/auth/send-phone-verification", bob, map[string]any{"phone_number": "+254712345679"})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("4th code request from one IP = %d %s, want 429 with Retry-After", r.status, r.raw)
	}
	r = h.callAs(t, "POST", "/api/v1/account/link/email/verify", bob, map[string]any{"tempToken": "elt_x", "otp": "123456"})
	if r.status != http.StatusTooManyRequests || r.str("httpStatus") != "TOO_MANY_REQUESTS" {
		t.Errorf("5th = %d %s, want the 429 envelope", r.status, r.raw)
	}
}
