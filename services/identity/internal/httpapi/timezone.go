package httpapi

import (
	"strings"
	"time"
	_ "time/tzdata" // IANA zone names are checked against the embedded database, not the host's

	"github.com/latchkey/latchkey/libs/platform/wire"
)

const maxTimezone = 64

// checkTimezone validates the optional timezone a client reports with its device (an IANA name
// such as "Europe/Berlin"; GET /api/v1/auth/devices shows it) and returns it trimmed.
func checkTimezone(v *wire.Checker, field, tz string) string {
	tz = strings.TrimSpace(tz)
	if tz == "" {
		return ""
	}
	v.MaxLen(field, tz, maxTimezone)
	_, err := time.LoadLocation(tz)
	ok := err == nil && tz != "Local" && !strings.ContainsAny(tz, "\\.") // no file-system paths
	v.Check(ok, field, "Input should be an IANA time zone name such as 'Europe/Berlin'", "value_error")
	if !ok {
		return ""
	}
	return tz
}
