package delivery_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/notification/internal/delivery"
)

var otpPurposes = []string{
	events.PurposeRegistration, events.PurposeDeviceVerification, events.PurposeTwoFactor, events.PurposePasswordReset,
	events.PurposePasswordChange, events.PurposeEmailVerification, events.PurposePhoneVerification,
}

func TestComposeOTPMessages(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, purpose := range otpPurposes {
		for _, tc := range []struct {
			channel, destination, wantTo, wantMasked string
			wantChannels                             []string
		}{
			{events.ChannelEmail, " Jane.Doe@Example.com ", "jane.doe@example.com", "j***@example.com", []string{"EMAIL"}},
			{events.ChannelSMS, "+4915112345678", "+4915112345678", "+*********5678", []string{"SMS"}},
			{events.ChannelWhatsApp, "+4915112345678", "+4915112345678", "+*********5678", []string{"WHATSAPP"}},
			{events.ChannelSMSAndWhatsApp, "+4915112345678", "+4915112345678", "+*********5678", []string{"SMS", "WHATSAPP"}},
		} {
			t.Run(purpose+"/"+tc.channel, func(t *testing.T) {
				msgs, err := delivery.Compose(delivery.Dispatch{
					EventID: "ev1", Purpose: purpose, Channel: tc.channel, Destination: tc.destination,
					Code: "482913", ExpiresAt: now.Add(10 * time.Minute),
				}, now)
				if err != nil {
					t.Fatalf("Compose: %v", err)
				}
				if len(msgs) != len(tc.wantChannels) {
					t.Fatalf("got %d messages, want %d", len(msgs), len(tc.wantChannels))
				}
				for i, m := range msgs {
					if m.Channel != tc.wantChannels[i] {
						t.Errorf("message %d channel = %q, want %q", i, m.Channel, tc.wantChannels[i])
					}
					if m.To != tc.wantTo {
						t.Errorf("to = %q, want %q", m.To, tc.wantTo)
					}
					for _, want := range []string{"482913", tc.wantMasked, "10 minutes"} {
						if !strings.Contains(m.Body, want) {
							t.Errorf("%s body lacks %q:\n%s", m.Channel, want, m.Body)
						}
					}
					if strings.Contains(m.Body, tc.wantTo) {
						t.Errorf("%s body shows the unmasked destination:\n%s", m.Channel, m.Body)
					}
					if gotSubject := m.Subject != ""; gotSubject != (m.Channel == events.ChannelEmail) {
						t.Errorf("%s subject = %q: want one for e-mail only", m.Channel, m.Subject)
					}
					if m.Code != "482913" || m.Purpose != purpose || m.EventID != "ev1" {
						t.Errorf("message = %+v", m)
					}
				}
				if len(msgs) == 2 && msgs[0].ID == msgs[1].ID {
					t.Errorf("both messages have id %q", msgs[0].ID)
				}
			})
		}
	}
}

func TestComposePurposesDiffer(t *testing.T) {
	now := time.Now()
	bodies := map[string]string{}
	for _, purpose := range otpPurposes {
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Purpose: purpose, Channel: events.ChannelEmail, Destination: "a@b.co", Code: "123456", ExpiresAt: now.Add(time.Minute),
		}, now)
		if err != nil {
			t.Fatalf("%s: %v", purpose, err)
		}
		key := msgs[0].Subject + msgs[0].Body
		if other, dup := bodies[key]; dup {
			t.Errorf("purposes %s and %s render the same message", purpose, other)
		}
		bodies[key] = purpose
	}
}

func TestComposeExistingAccountNotice(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		channel, destination string
		wantMessages         int
	}{
		{events.ChannelEmail, "jane@example.com", 1},
		{events.ChannelSMS, "+15551234567", 1},
		{events.ChannelSMSAndWhatsApp, "+15551234567", 2},
	} {
		t.Run(tc.channel, func(t *testing.T) {
			msgs, err := delivery.Compose(delivery.Dispatch{
				EventID: "e", Purpose: events.PurposeRegistrationExisting, Channel: tc.channel, Destination: tc.destination,
			}, now)
			if err != nil {
				t.Fatalf("Compose: %v", err)
			}
			if len(msgs) != tc.wantMessages {
				t.Fatalf("got %d messages, want %d", len(msgs), tc.wantMessages)
			}
			for _, m := range msgs {
				body := strings.ToLower(m.Body)
				for _, want := range []string{"someone tried to register", "already have an account", "sign in", "reset your password"} {
					if !strings.Contains(body, want) {
						t.Errorf("body lacks %q:\n%s", want, m.Body)
					}
				}
				if m.Code != "" {
					t.Errorf("notice carries code %q", m.Code)
				}
				if strings.ContainsAny(m.Body, "0123456789") && m.Channel == events.ChannelEmail {
					t.Errorf("e-mail notice contains digits (a code?):\n%s", m.Body)
				}
			}
		})
	}
}

func TestComposeRejectsUndeliverable(t *testing.T) {
	now := time.Now()
	valid := delivery.Dispatch{
		EventID: "e", Purpose: events.PurposeTwoFactor, Channel: events.ChannelSMS, Destination: "+15551234567",
		Code: "123456", ExpiresAt: now.Add(5 * time.Minute),
	}
	for _, tc := range []struct {
		name   string
		change func(*delivery.Dispatch)
	}{
		{"unknown purpose", func(d *delivery.Dispatch) { d.Purpose = "newsletter" }},
		{"unknown channel", func(d *delivery.Dispatch) { d.Channel = "PIGEON" }},
		{"empty destination", func(d *delivery.Dispatch) { d.Destination = "  " }},
		{"otp without code", func(d *delivery.Dispatch) { d.Code = "" }},
		{"otp without expiry", func(d *delivery.Dispatch) { d.ExpiresAt = time.Time{} }},
		{"notice with code", func(d *delivery.Dispatch) { d.Purpose = events.PurposeRegistrationExisting }},
		{"email to a phone number", func(d *delivery.Dispatch) { d.Channel = events.ChannelEmail }},
		{"sms to an e-mail address", func(d *delivery.Dispatch) { d.Destination = "a@b.co" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := valid
			tc.change(&d)
			_, err := delivery.Compose(d, now)
			var bad *delivery.InvalidDispatchError
			if !errors.As(err, &bad) {
				t.Fatalf("Compose error = %v, want an InvalidDispatchError", err)
			}
		})
	}
}

func TestComposeExpiryMinutes(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		left time.Duration
		want string
	}{
		{10 * time.Minute, "expires in 10 minutes"},
		{9*time.Minute + time.Second, "expires in 10 minutes"},
		{90 * time.Second, "expires in 2 minutes"},
		{20 * time.Second, "expires in 1 minute."},
	} {
		t.Run(tc.left.String(), func(t *testing.T) {
			msgs, err := delivery.Compose(delivery.Dispatch{
				EventID: "e", Purpose: events.PurposePasswordReset, Channel: events.ChannelSMS, Destination: "+15551234567",
				Code: "123456", ExpiresAt: now.Add(tc.left),
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(msgs[0].Body, tc.want) {
				t.Errorf("body %q lacks %q", msgs[0].Body, tc.want)
			}
		})
	}
}

func TestComposeLocaleFallsBackToEnglish(t *testing.T) {
	now := time.Now()
	d := delivery.Dispatch{
		EventID: "e", Purpose: events.PurposeRegistration, Channel: events.ChannelEmail, Destination: "a@b.co",
		Code: "123456", ExpiresAt: now.Add(time.Minute),
	}
	en, err := delivery.Compose(d, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, locale := range []string{"fr", "EN-gb", "", "zz-ZZ"} {
		t.Run(locale, func(t *testing.T) {
			d.Locale = locale
			got, err := delivery.Compose(d, now)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Body != en[0].Body || got[0].Subject != en[0].Subject {
				t.Errorf("locale %q rendered %q, want the English text", locale, got[0].Subject)
			}
		})
	}
}

func TestMaskDestination(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"jane@example.com", "j***@example.com"},
		{"j@example.com", "j***@example.com"},
		{"+4915112345678", "+*********5678"},
		{"15551234567", "*******4567"},
		{"+12345", "+***45"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := delivery.MaskDestination(tc.in); got != tc.want {
				t.Errorf("MaskDestination(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestComposeGerman(t *testing.T) {
	now := time.Now()
	for _, locale := range []string{"de", "de-AT", "DE_ch"} {
		t.Run(locale, func(t *testing.T) {
			msgs, err := delivery.Compose(delivery.Dispatch{
				EventID: "e", Purpose: events.PurposeTwoFactor, Channel: events.ChannelEmail, Destination: "jane@example.com",
				Code: "123456", ExpiresAt: now.Add(10 * time.Minute), Locale: locale,
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			m := msgs[0]
			if m.Lang != "de" || m.Subject != "Dein Latchkey-Anmeldecode" {
				t.Errorf("lang %q subject %q, want German", m.Lang, m.Subject)
			}
			for _, want := range []string{"123456", "j***@example.com", "10 Minuten", "Hallo"} {
				if !strings.Contains(m.Body, want) || !strings.Contains(m.HTML, want) {
					t.Errorf("text or HTML lacks %q:\n%s\n%s", want, m.Body, m.HTML)
				}
			}
		})
	}
}

func TestComposeEmailHasHTMLAlternative(t *testing.T) {
	now := time.Now()
	msgs, err := delivery.Compose(delivery.Dispatch{
		EventID: "e", Purpose: events.PurposePasswordReset, Channel: events.ChannelEmail, Destination: "jane@example.com",
		Code: "654321", ExpiresAt: now.Add(10 * time.Minute),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	for _, want := range []string{"<!DOCTYPE html>", `lang="en"`, "654321", "j***@example.com", "10 minutes", m.Subject} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
		}
	}
	if sms, _ := delivery.Compose(delivery.Dispatch{
		EventID: "e", Purpose: events.PurposePasswordReset, Channel: events.ChannelSMS, Destination: "+15551234567",
		Code: "654321", ExpiresAt: now.Add(10 * time.Minute),
	}, now); sms[0].HTML != "" || sms[0].Subject != "" {
		t.Errorf("an SMS has e-mail parts: %+v", sms[0])
	}
}

var alertKinds = []string{
	events.AlertNewDeviceSignIn, events.AlertPasswordChanged, events.AlertPasswordReset, events.AlertTwoFactorEnabled,
	events.AlertTwoFactorDisabled, events.AlertEmailLinked, events.AlertEmailUnlinked, events.AlertProviderLinked,
	events.AlertProviderUnlinked, events.AlertAccountDeactivated, events.AlertEmailChanged, events.AlertEmailChangeReverted,
	events.AlertPhoneChanged, events.AlertAPIKeyCreated, events.AlertPasskeyAdded, events.AlertPasskeyRemoved,
	events.AlertAuthenticatorAdded, events.AlertAuthenticatorRemoved, events.AlertRecoveryCodeUsed,
	events.AlertAccountLocked, events.AlertAccountUnlocked, events.AlertTwoFactorResetBySupport,
	events.AlertAccountDeletionScheduled, events.AlertAccountDeletionCancelled,
}

// TestComposeEmailChangedAlert: the previous address is told the address was changed (not "added"),
// to which (masked) address, and gets the revert link; a link that is not a plain http(s) URL is
// dropped, never shown.
func TestComposeEmailChangedAlert(t *testing.T) {
	now := time.Now()
	link := "https://accounts.example.com/email-change/revert#token=ert_AbC-123_xyz"
	for _, tc := range []struct {
		locale, revert, want, wantNot string
	}{
		{"en", link, "changed to at***@evil.example", "added"},
		{"de", link, "in at***@evil.example geändert", "hinzugefügt"},
		{"en", "javascript:alert(1)", "changed to", "javascript"},
		{"en", "https://x.example/<script>", "changed to", "<script>"},
	} {
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Alert: true, Purpose: events.AlertEmailChanged, Channel: events.ChannelEmail, Destination: "jane@example.com", Locale: tc.locale,
			Details: map[string]string{"email": "at***@evil.example", "revertUrl": tc.revert, "revertDays": "7"},
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		m := msgs[0]
		if !strings.Contains(m.Body, tc.want) || strings.Contains(m.Body, tc.wantNot) || strings.Contains(m.HTML, tc.wantNot) {
			t.Errorf("%s/%s: body = %q", tc.locale, tc.revert, m.Body)
		}
		if tc.revert == link && (!strings.Contains(m.Body, link) || !strings.Contains(m.Body, "7")) {
			t.Errorf("%s: the revert link is missing: %q", tc.locale, m.Body)
		}
	}
}

func TestComposeSecurityAlerts(t *testing.T) {
	now := time.Now()
	seen := map[string]string{}
	for _, kind := range alertKinds {
		for _, locale := range []string{"en", "de"} {
			t.Run(kind+"/"+locale, func(t *testing.T) {
				msgs, err := delivery.Compose(delivery.Dispatch{
					EventID: "e", Alert: true, Purpose: kind, Channel: events.ChannelEmail, Destination: "jane@example.com", Locale: locale,
					Details: map[string]string{"device": "Firefox on Linux", "ipAddress": "203.0.113.7", "provider": "GitHub", "email": "new@example.com"},
				}, now)
				if err != nil {
					t.Fatal(err)
				}
				m := msgs[0]
				if m.Subject == "" || m.Body == "" || m.HTML == "" || m.Code != "" || m.Purpose != kind {
					t.Errorf("alert = %+v", m)
				}
				if locale == "en" {
					if other, dup := seen[m.Subject]; dup {
						t.Errorf("%s has the subject of %s: %q", kind, other, m.Subject)
					}
					seen[m.Subject] = kind
				}
			})
		}
	}
	t.Run("details are shown", func(t *testing.T) {
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Alert: true, Purpose: events.AlertNewDeviceSignIn, Channel: events.ChannelSMSAndWhatsApp, Destination: "+15551234567",
			Details: map[string]string{"device": "Firefox on Linux", "ipAddress": "203.0.113.7"},
		}, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 || !strings.Contains(msgs[0].Body, "Firefox on Linux") || !strings.Contains(msgs[0].Body, "203.0.113.7") {
			t.Errorf("messages = %+v", msgs)
		}
	})
}

func TestComposeAlertDetailsAreDefused(t *testing.T) {
	now := time.Now()
	msgs, err := delivery.Compose(delivery.Dispatch{
		EventID: "e", Alert: true, Purpose: events.AlertNewDeviceSignIn, Channel: events.ChannelEmail, Destination: "jane@example.com",
		Details: map[string]string{"device": "<script>alert(1)</script>\nVisit https://evil.example " + strings.Repeat("x", 200)},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	for _, bad := range []string{"<script>", "https://", "\nVisit", strings.Repeat("x", 100)} {
		if strings.Contains(m.Body, bad) || strings.Contains(m.HTML, bad) {
			t.Errorf("message contains %q:\n%s\n%s", bad, m.Body, m.HTML)
		}
	}
}

func TestComposeRejectsBadAlerts(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		d    delivery.Dispatch
	}{
		{"unknown kind", delivery.Dispatch{EventID: "e", Alert: true, Purpose: "birthday", Channel: events.ChannelEmail, Destination: "a@b.co"}},
		{"alert with a code", delivery.Dispatch{EventID: "e", Alert: true, Purpose: events.AlertPasswordChanged, Channel: events.ChannelEmail, Destination: "a@b.co", Code: "123456"}},
		{"sms to a non-number", delivery.Dispatch{EventID: "e", Alert: true, Purpose: events.AlertPasswordChanged, Channel: events.ChannelSMS, Destination: "call me"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := delivery.Compose(tc.d, now)
			var bad *delivery.InvalidDispatchError
			if !errors.As(err, &bad) {
				t.Fatalf("Compose error = %v, want an InvalidDispatchError", err)
			}
		})
	}
}

// TestComposeDeletionAlert: the scheduled deletion's date is shown; a detail that is not a time is not.
func TestComposeDeletionAlert(t *testing.T) {
	for _, tc := range []struct{ locale, deleteAt, want, wantNot string }{
		{"en", "2026-06-18T10:30:45Z", "2026-06-18 10:30 UTC", "grace period"},
		{"de", "2026-06-18T10:30:45Z", "2026-06-18 10:30 UTC", "Ende der Frist"},
		{"en", "<script>", "the end of the grace period", "<script>"},
	} {
		msgs, err := delivery.Compose(delivery.Dispatch{
			EventID: "e", Alert: true, Purpose: events.AlertAccountDeletionScheduled, Channel: events.ChannelEmail, Destination: "jane@example.com",
			Locale: tc.locale, Details: map[string]string{"deleteAt": tc.deleteAt},
		}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msgs[0].Body, tc.want) || strings.Contains(msgs[0].Body, tc.wantNot) {
			t.Errorf("%s %s: body = %q", tc.locale, tc.deleteAt, msgs[0].Body)
		}
	}
}
