package delivery

import (
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/events"
)

// deletionDate renders a deletion alert's deleteAt detail (RFC 3339, written by identity) as a UTC
// date and time; anything else is dropped, not shown.
func deletionDate(raw string) string {
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// The wording of the account deletion alerts (issue 17).
func init() {
	english.alerts[events.AlertAccountDeletionScheduled] = alertText{"Your Latchkey account will be deleted", func(d alertDetails) string {
		return fmt.Sprintf("Your Latchkey account is scheduled for deletion on %s, and every session and API key was ended. "+
			"To keep it, sign in before then and cancel the deletion. If this wasn't you, sign in, cancel it and change your password.",
			orDefault(d.DeleteAt, "the end of the grace period"))
	}}
	english.alerts[events.AlertAccountDeletionCancelled] = alertText{"Your Latchkey account will not be deleted", func(alertDetails) string {
		return "The scheduled deletion of your Latchkey account was cancelled; the account stays as it is."
	}}
	german.alerts[events.AlertAccountDeletionScheduled] = alertText{"Dein Latchkey-Konto wird gelöscht", func(d alertDetails) string {
		return fmt.Sprintf("Dein Latchkey-Konto wird am %s gelöscht, alle Sitzungen und API-Schlüssel wurden beendet. "+
			"Um es zu behalten, melde dich vorher an und brich die Löschung ab. Warst du das nicht, melde dich an, brich sie ab und ändere dein Passwort.",
			orDefault(d.DeleteAt, "Ende der Frist"))
	}}
	german.alerts[events.AlertAccountDeletionCancelled] = alertText{"Dein Latchkey-Konto wird nicht gelöscht", func(alertDetails) string {
		return "Die geplante Löschung deines Latchkey-Kontos wurde abgebrochen; das Konto bleibt bestehen."
	}}
}
