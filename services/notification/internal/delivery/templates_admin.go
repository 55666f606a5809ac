package delivery

import "github.com/latchkey/latchkey/libs/platform/events"

// The wording of the admin API's alerts (issue 17): an operator locked or unlocked the account, or
// turned off its second factors.
func init() {
	english.alerts[events.AlertAccountLocked] = alertText{"Your Latchkey account was locked", func(alertDetails) string {
		return "Support locked your Latchkey account and ended all its sessions; it cannot be signed in to until it is unlocked. Contact support to have it unlocked."
	}}
	english.alerts[events.AlertAccountUnlocked] = alertText{"Your Latchkey account was unlocked", func(alertDetails) string {
		return "Support unlocked your Latchkey account; you can sign in again."
	}}
	english.alerts[events.AlertTwoFactorResetBySupport] = alertText{"Your second factors were turned off by support", func(alertDetails) string {
		return "Support turned off every second factor of your Latchkey account (two-factor codes, authenticator app, passkeys and recovery codes) and ended all its sessions. Sign in with your password and set them up again."
	}}

	german.alerts[events.AlertAccountLocked] = alertText{"Dein Latchkey-Konto wurde gesperrt", func(alertDetails) string {
		return "Der Support hat dein Latchkey-Konto gesperrt und alle Sitzungen beendet; bis zur Entsperrung ist keine Anmeldung möglich. Wende dich an den Support, um es entsperren zu lassen."
	}}
	german.alerts[events.AlertAccountUnlocked] = alertText{"Dein Latchkey-Konto wurde entsperrt", func(alertDetails) string {
		return "Der Support hat dein Latchkey-Konto entsperrt; du kannst dich wieder anmelden."
	}}
	german.alerts[events.AlertTwoFactorResetBySupport] = alertText{"Der Support hat deine zweiten Faktoren abgeschaltet", func(alertDetails) string {
		return "Der Support hat alle zweiten Faktoren deines Latchkey-Kontos abgeschaltet (Zwei-Faktor-Codes, Authenticator-App, Passkeys und Wiederherstellungscodes) und alle Sitzungen beendet. Melde dich mit deinem Passwort an und richte sie neu ein."
	}}
}
