// Package providerfake makes the notification service's local provider stand-ins
// (internal/providertest: a Twilio Messaging API and an SMTP submission server speaking the real
// protocols) usable by tests outside this module, such as the chart-driven run in deploy/, and gives
// the environment that points the service's live delivery driver at them.
package providerfake

import (
	"strconv"
	"testing"

	"github.com/latchkey/latchkey/services/notification/internal/providertest"
)

// The stand-ins and what they received.
type (
	Twilio        = providertest.Twilio
	TwilioMessage = providertest.TwilioMessage
	SMTP          = providertest.SMTP
	Mail          = providertest.Mail
)

// Fakes are a running Twilio and SMTP stand-in.
type Fakes struct {
	Twilio *Twilio
	SMTP   *SMTP
}

// SMSFrom is the sender number Env configures.
const SMSFrom = "+15005550006"

// The stand-ins' credentials, for a test that supplies them as Secret keys.
const (
	TwilioAccountSID = providertest.TwilioAccountSID
	TwilioAuthToken  = providertest.TwilioAuthToken
	SMTPUsername     = providertest.SMTPUsername
	SMTPPassword     = providertest.SMTPPassword
)

// Start runs both stand-ins until the test ends.
func Start(t testing.TB) *Fakes {
	t.Helper()
	return &Fakes{Twilio: providertest.NewTwilio(t), SMTP: providertest.NewSMTP(t)}
}

// Env is the notification service's provider configuration for the stand-ins (services/notification/
// internal/config): Twilio's API, credentials and sender, and the SMTP server with STARTTLS verified
// against its own CA. It does not choose DELIVERY_DRIVER.
func (f *Fakes) Env() map[string]string {
	return map[string]string{
		"TWILIO_ACCOUNT_SID":  TwilioAccountSID,
		"TWILIO_AUTH_TOKEN":   TwilioAuthToken,
		"TWILIO_SMS_FROM":     SMSFrom,
		"TWILIO_API_BASE_URL": f.Twilio.URL,
		"SMTP_HOST":           f.SMTP.Host,
		"SMTP_PORT":           strconv.Itoa(f.SMTP.Port),
		"SMTP_USERNAME":       SMTPUsername,
		"SMTP_PASSWORD":       SMTPPassword,
		"SMTP_FROM":           "Latchkey <no-reply@latchkey.test>",
		"SMTP_TLS":            "starttls",
		"SMTP_TLS_CA_FILE":    f.SMTP.CAFile,
	}
}
