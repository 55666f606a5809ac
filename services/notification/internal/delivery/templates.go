package delivery

import (
	"fmt"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// catalog is the wording of one language. Every purpose and alert kind has an entry in English; other
// languages may leave entries out, which then fall back to English.
type catalog struct {
	lang     string
	greeting string
	minutes  func(n int) string
	// One-time codes: the SMS/WhatsApp text and the e-mail paragraphs around the code.
	otpSMS   func(code, action, to, expiry string) string
	otpIntro func(action, to string) string
	otpOutro func(expiry string) []string
	purposes map[string]purposeText
	// Code-less notices (otp.dispatch purposes without a code).
	notices map[string]noticeText
	// Security alerts (security.alert kinds).
	alerts     map[string]alertText
	alertSMS   func(sentence string) string
	alertOutro []string
}

type purposeText struct {
	subject string
	action  string // completes "Use this code ..."
}

type noticeText struct {
	subject string
	sms     func(to string) string
	body    func(to string) []string
}

type alertText struct {
	subject  string
	sentence func(d alertDetails) string
}

// alertDetails are the SecurityAlert details a message may show, already cleaned (see cleanDetail).
type alertDetails struct {
	Device, Platform, IPAddress, Provider, Email string
	// Step-up alerts: the new and replaced phone (masked), the API key's name and prefix, and the
	// e-mail change's revert link (checked by revertLink) and how many days it works.
	Phone, PreviousPhone, KeyName, KeyPrefix string
	RevertURL, RevertDays                    string
	PasswordReset                            bool
	// Recovery code alerts: how many unused codes are left (digits only).
	Remaining string
	// "This wasn't me" (notme.go): the alert's one-time link, and what a report was about and did.
	NotMeURL, Reported, ReportedAt, KeysRevoked string
	SessionEnded, DeviceForgotten               bool
	// Deletion alerts: when the account will be deleted (templates_deletion.go).
	DeleteAt string
}

func (d alertDetails) from(sep string) string {
	var parts []string
	for _, p := range []string{d.Device, d.Platform} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	s := strings.Join(parts, ", ")
	if d.IPAddress != "" {
		if s != "" {
			s += " "
		}
		s += "(" + d.IPAddress + ")"
	}
	if s == "" {
		return ""
	}
	return sep + s
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

var english = catalog{
	lang:     "en",
	greeting: "Hello,",
	minutes: func(n int) string {
		if n <= 1 {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", n)
	},
	otpSMS: func(code, action, to, expiry string) string {
		return fmt.Sprintf("Latchkey: %s is your code %s (%s). It expires in %s. Never share it with anyone.", code, action, to, expiry)
	},
	otpIntro: func(action, to string) string { return fmt.Sprintf("Use this code %s (%s):", action, to) },
	otpOutro: func(expiry string) []string {
		return []string{
			fmt.Sprintf("The code expires in %s. Never share it with anyone: Latchkey will never ask you for it.", expiry),
			"If you did not ask for this code, you can ignore this email.",
		}
	},
	purposes: map[string]purposeText{
		events.PurposeRegistration:       {"Your Latchkey registration code", "to finish registering"},
		events.PurposeDeviceVerification: {"Verify your new device", "to verify a new device signing in to your account"},
		events.PurposeTwoFactor:          {"Your Latchkey sign-in code", "to finish signing in"},
		events.PurposePasswordReset:      {"Reset your Latchkey password", "to reset your password"},
		events.PurposePasswordChange:     {"Confirm your password change", "to confirm your password change"},
		events.PurposeEmailVerification:  {"Verify your email address", "to verify your email address"},
		events.PurposePhoneVerification:  {"Verify your phone number", "to verify your phone number"},
		events.PurposeReauthentication:   {"Confirm it's you", "to confirm it's you"},
	},
	notices: map[string]noticeText{
		events.PurposeRegistrationExisting: {
			subject: "You already have a Latchkey account",
			sms: func(to string) string {
				return fmt.Sprintf("Latchkey: someone tried to register with %s. You already have an account: sign in or reset your password. If it wasn't you, ignore this message.", to)
			},
			body: func(to string) []string {
				return []string{
					fmt.Sprintf("Someone tried to register a new Latchkey account with %s. You already have an account: sign in, or reset your password if you have forgotten it.", to),
					"If it wasn't you, you can ignore this email. Nothing has changed in your account.",
				}
			},
		},
	},
	alerts: map[string]alertText{
		events.AlertNewDeviceSignIn: {"New sign-in to your Latchkey account", func(d alertDetails) string {
			return "Your Latchkey account was just signed in to from a new device" + d.from(": ") + "."
		}},
		events.AlertPasswordChanged: {"Your Latchkey password was changed", func(alertDetails) string {
			return "The password of your Latchkey account was changed."
		}},
		events.AlertPasswordReset: {"Your Latchkey password was reset", func(alertDetails) string {
			return "The password of your Latchkey account was reset."
		}},
		events.AlertTwoFactorEnabled: {"Two-factor authentication is on", func(alertDetails) string {
			return "Two-factor authentication was turned on for your Latchkey account."
		}},
		events.AlertTwoFactorDisabled: {"Two-factor authentication is off", func(alertDetails) string {
			return "Two-factor authentication was turned off for your Latchkey account."
		}},
		events.AlertEmailLinked: {"An email address was added to your account", func(d alertDetails) string {
			return fmt.Sprintf("The email address %s was added to your Latchkey account.", orDefault(d.Email, "(unknown)"))
		}},
		events.AlertEmailUnlinked: {"An email address was removed from your account", func(d alertDetails) string {
			s := fmt.Sprintf("The email address %s was removed from your Latchkey account.", orDefault(d.Email, "(unknown)"))
			if d.RevertURL != "" {
				s += fmt.Sprintf(" If this wasn't you, undo it within %s days with this link, which also signs everyone out: %s", orDefault(d.RevertDays, "7"), d.RevertURL)
			}
			return s
		}},
		events.AlertProviderLinked: {"A sign-in provider was linked to your account", func(d alertDetails) string {
			return fmt.Sprintf("%s sign-in was linked to your Latchkey account.", orDefault(d.Provider, "A provider's"))
		}},
		events.AlertProviderUnlinked: {"A sign-in provider was unlinked from your account", func(d alertDetails) string {
			return fmt.Sprintf("%s sign-in was unlinked from your Latchkey account.", orDefault(d.Provider, "A provider's"))
		}},
		events.AlertAccountDeactivated: {"Your Latchkey account was deactivated", func(alertDetails) string {
			return "Your Latchkey account was deactivated and all its sessions were ended."
		}},
		events.AlertEmailChanged: {"Your Latchkey email address was changed", func(d alertDetails) string {
			s := fmt.Sprintf("The email address of your Latchkey account was changed to %s; this address no longer receives its codes and alerts.", orDefault(d.Email, "(unknown)"))
			if d.RevertURL != "" {
				return s + fmt.Sprintf(" If this wasn't you, undo the change within %s days with this link, which also signs everyone out: %s", orDefault(d.RevertDays, "7"), d.RevertURL)
			}
			return s
		}},
		events.AlertEmailChangeReverted: {"Your Latchkey email address was restored", func(d alertDetails) string {
			s := fmt.Sprintf("%s is your Latchkey account's email address again, and every session and API key was ended.", orDefault(d.Email, "This address"))
			if d.PasswordReset {
				s += " Your password was reset too: choose a new one with \"Forgot password\"."
			}
			return s
		}},
		events.AlertPhoneChanged: {"Your Latchkey phone number was changed", func(d alertDetails) string {
			if d.PreviousPhone != "" {
				return fmt.Sprintf("The phone number %s replaced %s on your Latchkey account.", orDefault(d.Phone, "(unknown)"), d.PreviousPhone)
			}
			return fmt.Sprintf("The phone number %s was added to your Latchkey account.", orDefault(d.Phone, "(unknown)"))
		}},
		events.AlertAPIKeyCreated: {"A new API key was created for your account", func(d alertDetails) string {
			return fmt.Sprintf("An API key named \"%s\" (%s…) was created for your Latchkey account. It can act as you until it is revoked.", orDefault(d.KeyName, "unnamed"), orDefault(d.KeyPrefix, "lk_"))
		}},
		events.AlertPasskeyAdded: {"A passkey was added to your account", func(d alertDetails) string {
			return fmt.Sprintf("A passkey named \"%s\" was added to your Latchkey account. It can sign in to your account without a password.", orDefault(d.KeyName, "unnamed"))
		}},
		events.AlertPasskeyRemoved: {"A passkey was removed from your account", func(d alertDetails) string {
			return fmt.Sprintf("The passkey named \"%s\" was removed from your Latchkey account.", orDefault(d.KeyName, "unnamed"))
		}},
		events.AlertAuthenticatorAdded: {"An authenticator app was added to your account", func(alertDetails) string {
			return "An authenticator app was set up as a second factor for your Latchkey account."
		}},
		events.AlertAuthenticatorRemoved: {"An authenticator app was removed from your account", func(alertDetails) string {
			return "The authenticator app was removed from your Latchkey account; its codes no longer sign in."
		}},
	},
	alertSMS: func(sentence string) string {
		return "Latchkey: " + sentence + " If this wasn't you, reset your password now."
	},
	alertOutro: []string{
		"If this was you, there is nothing to do.",
		"If it wasn't you, reset your password now and sign out of your other sessions. Latchkey will never ask you for your password or a code.",
	},
}

var german = catalog{
	lang:     "de",
	greeting: "Hallo,",
	minutes: func(n int) string {
		if n <= 1 {
			return "1 Minute"
		}
		return fmt.Sprintf("%d Minuten", n)
	},
	otpSMS: func(code, action, to, expiry string) string {
		return fmt.Sprintf("Latchkey: %s ist dein Code %s (%s). Er läuft in %s ab. Gib ihn niemals weiter.", code, action, to, expiry)
	},
	otpIntro: func(action, to string) string { return fmt.Sprintf("Verwende diesen Code %s (%s):", action, to) },
	otpOutro: func(expiry string) []string {
		return []string{
			fmt.Sprintf("Der Code läuft in %s ab. Gib ihn niemals weiter: Latchkey wird dich nie danach fragen.", expiry),
			"Wenn du diesen Code nicht angefordert hast, kannst du diese E-Mail ignorieren.",
		}
	},
	purposes: map[string]purposeText{
		events.PurposeRegistration:       {"Dein Latchkey-Registrierungscode", "zum Abschließen der Registrierung"},
		events.PurposeDeviceVerification: {"Bestätige dein neues Gerät", "zum Bestätigen eines neuen Geräts"},
		events.PurposeTwoFactor:          {"Dein Latchkey-Anmeldecode", "zum Abschließen der Anmeldung"},
		events.PurposePasswordReset:      {"Setze dein Latchkey-Passwort zurück", "zum Zurücksetzen deines Passworts"},
		events.PurposePasswordChange:     {"Bestätige die Änderung deines Passworts", "zum Bestätigen der Passwortänderung"},
		events.PurposeEmailVerification:  {"Bestätige deine E-Mail-Adresse", "zum Bestätigen deiner E-Mail-Adresse"},
		events.PurposePhoneVerification:  {"Bestätige deine Telefonnummer", "zum Bestätigen deiner Telefonnummer"},
		events.PurposeReauthentication:   {"Bestätige, dass du es bist", "zur Bestätigung, dass du es bist"},
	},
	notices: map[string]noticeText{
		events.PurposeRegistrationExisting: {
			subject: "Du hast bereits ein Latchkey-Konto",
			sms: func(to string) string {
				return fmt.Sprintf("Latchkey: Jemand wollte sich mit %s registrieren. Du hast bereits ein Konto: melde dich an oder setze dein Passwort zurück. Warst du das nicht, ignoriere diese Nachricht.", to)
			},
			body: func(to string) []string {
				return []string{
					fmt.Sprintf("Jemand wollte ein neues Latchkey-Konto mit %s registrieren. Du hast bereits ein Konto: melde dich an oder setze dein Passwort zurück, falls du es vergessen hast.", to),
					"Warst du das nicht, kannst du diese E-Mail ignorieren. An deinem Konto hat sich nichts geändert.",
				}
			},
		},
	},
	alerts: map[string]alertText{
		events.AlertNewDeviceSignIn: {"Neue Anmeldung bei deinem Latchkey-Konto", func(d alertDetails) string {
			return "Bei deinem Latchkey-Konto hat sich gerade ein neues Gerät angemeldet" + d.from(": ") + "."
		}},
		events.AlertPasswordChanged: {"Dein Latchkey-Passwort wurde geändert", func(alertDetails) string {
			return "Das Passwort deines Latchkey-Kontos wurde geändert."
		}},
		events.AlertPasswordReset: {"Dein Latchkey-Passwort wurde zurückgesetzt", func(alertDetails) string {
			return "Das Passwort deines Latchkey-Kontos wurde zurückgesetzt."
		}},
		events.AlertTwoFactorEnabled: {"Zwei-Faktor-Authentifizierung ist aktiv", func(alertDetails) string {
			return "Die Zwei-Faktor-Authentifizierung deines Latchkey-Kontos wurde eingeschaltet."
		}},
		events.AlertTwoFactorDisabled: {"Zwei-Faktor-Authentifizierung ist aus", func(alertDetails) string {
			return "Die Zwei-Faktor-Authentifizierung deines Latchkey-Kontos wurde ausgeschaltet."
		}},
		events.AlertAccountDeactivated: {"Dein Latchkey-Konto wurde deaktiviert", func(alertDetails) string {
			return "Dein Latchkey-Konto wurde deaktiviert, alle Sitzungen wurden beendet."
		}},
		events.AlertEmailChanged: {"Deine Latchkey-E-Mail-Adresse wurde geändert", func(d alertDetails) string {
			s := fmt.Sprintf("Die E-Mail-Adresse deines Latchkey-Kontos wurde in %s geändert; diese Adresse erhält keine Codes und Hinweise mehr.", orDefault(d.Email, "(unbekannt)"))
			if d.RevertURL != "" {
				return s + fmt.Sprintf(" Warst du das nicht, mache die Änderung innerhalb von %s Tagen mit diesem Link rückgängig (er meldet auch alle Sitzungen ab): %s", orDefault(d.RevertDays, "7"), d.RevertURL)
			}
			return s
		}},
		events.AlertEmailUnlinked: {"Eine E-Mail-Adresse wurde von deinem Konto entfernt", func(d alertDetails) string {
			s := fmt.Sprintf("Die E-Mail-Adresse %s wurde aus deinem Latchkey-Konto entfernt.", orDefault(d.Email, "(unbekannt)"))
			if d.RevertURL != "" {
				s += fmt.Sprintf(" Warst du das nicht, mache es innerhalb von %s Tagen mit diesem Link rückgängig (er meldet auch alle Sitzungen ab): %s", orDefault(d.RevertDays, "7"), d.RevertURL)
			}
			return s
		}},
		events.AlertEmailChangeReverted: {"Deine Latchkey-E-Mail-Adresse wurde wiederhergestellt", func(d alertDetails) string {
			s := fmt.Sprintf("%s ist wieder die E-Mail-Adresse deines Latchkey-Kontos; alle Sitzungen und API-Schlüssel wurden beendet.", orDefault(d.Email, "Diese Adresse"))
			if d.PasswordReset {
				s += " Auch dein Passwort wurde zurückgesetzt: wähle mit „Passwort vergessen“ ein neues."
			}
			return s
		}},
		events.AlertPhoneChanged: {"Deine Latchkey-Telefonnummer wurde geändert", func(d alertDetails) string {
			if d.PreviousPhone != "" {
				return fmt.Sprintf("Die Telefonnummer %s hat %s in deinem Latchkey-Konto ersetzt.", orDefault(d.Phone, "(unbekannt)"), d.PreviousPhone)
			}
			return fmt.Sprintf("Die Telefonnummer %s wurde deinem Latchkey-Konto hinzugefügt.", orDefault(d.Phone, "(unbekannt)"))
		}},
		events.AlertAPIKeyCreated: {"Ein neuer API-Schlüssel wurde erstellt", func(d alertDetails) string {
			return fmt.Sprintf("Für dein Latchkey-Konto wurde ein API-Schlüssel namens „%s“ (%s…) erstellt. Er kann in deinem Namen handeln, bis er widerrufen wird.", orDefault(d.KeyName, "ohne Namen"), orDefault(d.KeyPrefix, "lk_"))
		}},
		events.AlertPasskeyAdded: {"Ein Passkey wurde hinzugefügt", func(d alertDetails) string {
			return fmt.Sprintf("Deinem Latchkey-Konto wurde ein Passkey namens „%s“ hinzugefügt. Mit ihm kann man sich ohne Passwort anmelden.", orDefault(d.KeyName, "ohne Namen"))
		}},
		events.AlertPasskeyRemoved: {"Ein Passkey wurde entfernt", func(d alertDetails) string {
			return fmt.Sprintf("Der Passkey namens „%s“ wurde aus deinem Latchkey-Konto entfernt.", orDefault(d.KeyName, "ohne Namen"))
		}},
		events.AlertAuthenticatorAdded: {"Eine Authenticator-App wurde hinzugefügt", func(alertDetails) string {
			return "Für dein Latchkey-Konto wurde eine Authenticator-App als zweiter Faktor eingerichtet."
		}},
		events.AlertAuthenticatorRemoved: {"Eine Authenticator-App wurde entfernt", func(alertDetails) string {
			return "Die Authenticator-App wurde aus deinem Latchkey-Konto entfernt; ihre Codes gelten nicht mehr."
		}},
	},
	alertSMS: func(sentence string) string {
		return "Latchkey: " + sentence + " Warst du das nicht, setze jetzt dein Passwort zurück."
	},
	alertOutro: []string{
		"Warst du das, ist nichts zu tun.",
		"Warst du das nicht, setze jetzt dein Passwort zurück und melde deine anderen Sitzungen ab. Latchkey fragt dich nie nach deinem Passwort oder einem Code.",
	},
}

// catalogs holds every language by its lower-case tag.
var catalogs = map[string]*catalog{"en": &english, "de": &german}

const defaultLocale = "en"

// catalogsFor returns the catalogs to try for a locale, best first, English last: "de-AT" tries
// "de-at", "de", then "en".
func catalogsFor(locale string) []*catalog {
	locale = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(locale), "_", "-"))
	var out []*catalog
	for _, l := range []string{locale, strings.SplitN(locale, "-", 2)[0]} {
		if c, ok := catalogs[l]; ok && (len(out) == 0 || out[len(out)-1] != c) {
			out = append(out, c)
		}
	}
	return append(out, &english)
}
