package delivery

import "github.com/latchkey/latchkey/libs/platform/events"

// The wording of the export alert (issue 17): it says an export is ready and nothing of its content.
func init() {
	english.alerts[events.AlertExportReady] = alertText{"Your Latchkey data export is ready", func(alertDetails) string {
		return "The export of your Latchkey account data that you asked for is ready. Sign in to download it; it is kept for a limited time only. If you did not ask for it, change your password and check your sessions."
	}}
	german.alerts[events.AlertExportReady] = alertText{"Dein Latchkey-Datenexport ist bereit", func(alertDetails) string {
		return "Der Export deiner Latchkey-Kontodaten, den du angefordert hast, ist bereit. Melde dich an, um ihn herunterzuladen; er wird nur für begrenzte Zeit aufbewahrt. Wenn du ihn nicht angefordert hast, ändere dein Passwort und prüfe deine Sitzungen."
	}}
}
