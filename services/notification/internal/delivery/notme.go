package delivery

import (
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// "This wasn't me" (issue 17): the not_me_reported alert, and the one-time link (details notMeUrl)
// that security alerts about a sign-in or change carry, shown in the e-mail above the outro.

// notMeLinkText is the paragraph with the link, per language.
var notMeLinkText = map[string]func(url string) string{
	"en": func(url string) string {
		return "Wasn't this you? Open this link to end that session, forget the device and protect your account (it works once): " + url
	},
	"de": func(url string) string {
		return "Warst du das nicht? Öffne diesen Link, um diese Sitzung zu beenden, das Gerät zu vergessen und dein Konto zu schützen (er funktioniert einmal): " + url
	},
}

// reportedNames says what was reported, per language, by activity or alert kind.
var reportedNames = map[string]map[string]string{
	"en": {
		events.ActivitySignIn: "a sign-in", events.AlertNewDeviceSignIn: "a sign-in from a new device",
		events.AlertPasswordChanged: "a password change",
		events.AlertEmailChanged:    "an email address change",
		events.AlertPhoneChanged:    "a phone number change",
		events.AlertAPIKeyCreated:   "a new API key",
		events.AlertPasskeyAdded:    "a new passkey", events.AlertAuthenticatorAdded: "a new authenticator app",
		events.AlertProviderLinked: "a linked sign-in provider", events.ActivityProviderChanged: "a sign-in provider change",
		events.AlertTwoFactorDisabled: "two-factor authentication turned off", events.ActivityTwoFactorChanged: "a two-factor change",
	},
	"de": {
		events.ActivitySignIn: "eine Anmeldung", events.AlertNewDeviceSignIn: "eine Anmeldung von einem neuen Gerät",
		events.AlertPasswordChanged: "eine Passwortänderung",
		events.AlertEmailChanged:    "eine Änderung der E-Mail-Adresse",
		events.AlertPhoneChanged:    "eine Änderung der Telefonnummer",
		events.AlertAPIKeyCreated:   "einen neuen API-Schlüssel",
		events.AlertPasskeyAdded:    "einen neuen Passkey", events.AlertAuthenticatorAdded: "eine neue Authenticator-App",
		events.AlertProviderLinked: "einen verknüpften Anmeldeanbieter", events.ActivityProviderChanged: "eine Änderung der Anmeldeanbieter",
		events.AlertTwoFactorDisabled: "das Ausschalten der Zwei-Faktor-Authentifizierung", events.ActivityTwoFactorChanged: "eine Änderung der Zwei-Faktor-Authentifizierung",
	},
}

func init() {
	english.alerts[events.AlertNotMeReported] = alertText{"You reported activity on your Latchkey account", func(d alertDetails) string {
		what := orDefault(reportedNames["en"][d.Reported], "activity")
		s := fmt.Sprintf("You reported %s%s%s as not yours.", what, d.from(" from "), atText(d.ReportedAt, " at "))
		var done []string
		if d.SessionEnded {
			done = append(done, "its session was ended")
		}
		if d.DeviceForgotten {
			done = append(done, "the device was forgotten")
		}
		if d.KeysRevoked != "" && d.KeysRevoked != "0" {
			done = append(done, d.KeysRevoked+" API key(s) created in it were revoked")
		}
		if len(done) > 0 {
			s += " " + strings.ToUpper(done[0][:1]) + done[0][1:]
			if len(done) > 1 {
				s += ", " + strings.Join(done[1:], ", ")
			}
			s += "."
		}
		return s + " Choose a new password with \"Forgot password\" before you sign in with a password again."
	}}
	german.alerts[events.AlertNotMeReported] = alertText{"Du hast Aktivität in deinem Latchkey-Konto gemeldet", func(d alertDetails) string {
		what := orDefault(reportedNames["de"][d.Reported], "eine Aktivität")
		s := fmt.Sprintf("Du hast %s%s%s als nicht von dir gemeldet.", what, d.from(" von "), atText(d.ReportedAt, " am "))
		var done []string
		if d.SessionEnded {
			done = append(done, "die Sitzung wurde beendet")
		}
		if d.DeviceForgotten {
			done = append(done, "das Gerät wurde vergessen")
		}
		if d.KeysRevoked != "" && d.KeysRevoked != "0" {
			done = append(done, d.KeysRevoked+" darin erstellte API-Schlüssel wurden widerrufen")
		}
		if len(done) > 0 {
			s += " " + strings.ToUpper(done[0][:1]) + done[0][1:]
			if len(done) > 1 {
				s += ", " + strings.Join(done[1:], ", ")
			}
			s += "."
		}
		return s + " Wähle mit „Passwort vergessen“ ein neues Passwort, bevor du dich wieder mit Passwort anmeldest."
	}}
}

func atText(at, sep string) string {
	if at == "" {
		return ""
	}
	return sep + at
}

// withNotMeLink returns the alert outro with the "this wasn't me" paragraph of lang first, when the
// alert carries a (checked) link.
func withNotMeLink(lang string, d alertDetails, outro []string) []string {
	text, ok := notMeLinkText[lang]
	if d.NotMeURL == "" || !ok {
		return outro
	}
	return append([]string{text(d.NotMeURL)}, outro...)
}

// reportedAt keeps a reported time only when it is an RFC 3339 UTC time as identity writes it,
// shown as "2006-01-02 15:04 UTC".
func reportedAt(raw string) string {
	if len(raw) != len("2006-01-02T15:04:05Z") || !strings.HasSuffix(raw, "Z") || strings.Trim(raw, "0123456789-:TZ") != "" {
		return ""
	}
	return raw[:10] + " " + raw[11:16] + " UTC"
}
