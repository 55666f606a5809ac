package delivery

import (
	"fmt"
	"strconv"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// lowRecoveryCodes is the count of unused recovery codes at or below which the alert of a used code
// urges the owner to generate a new set.
const lowRecoveryCodes = 3

// The wording of the recovery code alerts (issue 16), added to the catalogs here so the factors' alerts
// stay beside each other.
func init() {
	english.alerts[events.AlertRecoveryCodesGenerated] = alertText{"New recovery codes were generated for your account", func(alertDetails) string {
		return "A new set of recovery codes was generated for your Latchkey account; the previous codes no longer work."
	}}
	english.alerts[events.AlertRecoveryCodeUsed] = alertText{"A recovery code was used to sign in", func(d alertDetails) string {
		s := "A recovery code was just used to sign in to your Latchkey account" + d.from(" from ") + "."
		n, err := strconv.Atoi(d.Remaining)
		switch {
		case err != nil:
			return s
		case n == 0:
			return s + " You have no recovery codes left: generate a new set now, or you may be locked out if you lose your second factor."
		case n == 1:
			return s + " Only 1 recovery code is left: generate a new set soon."
		case n <= lowRecoveryCodes:
			return s + fmt.Sprintf(" Only %d recovery codes are left: generate a new set soon.", n)
		}
		return s + fmt.Sprintf(" %d unused recovery codes are left.", n)
	}}
	german.alerts[events.AlertRecoveryCodesGenerated] = alertText{"Neue Wiederherstellungscodes wurden erstellt", func(alertDetails) string {
		return "Für dein Latchkey-Konto wurden neue Wiederherstellungscodes erstellt; die bisherigen Codes gelten nicht mehr."
	}}
	german.alerts[events.AlertRecoveryCodeUsed] = alertText{"Ein Wiederherstellungscode wurde verwendet", func(d alertDetails) string {
		s := "Bei deinem Latchkey-Konto wurde gerade mit einem Wiederherstellungscode angemeldet" + d.from(" von ") + "."
		n, err := strconv.Atoi(d.Remaining)
		switch {
		case err != nil:
			return s
		case n == 0:
			return s + " Du hast keine Wiederherstellungscodes mehr: erstelle jetzt neue, sonst kannst du dich aussperren, wenn du deinen zweiten Faktor verlierst."
		case n == 1:
			return s + " Nur noch 1 Wiederherstellungscode ist übrig: erstelle bald neue."
		case n <= lowRecoveryCodes:
			return s + fmt.Sprintf(" Nur noch %d Wiederherstellungscodes sind übrig: erstelle bald neue.", n)
		}
		return s + fmt.Sprintf(" %d unbenutzte Wiederherstellungscodes sind übrig.", n)
	}}
}
