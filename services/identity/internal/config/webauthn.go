package config

import (
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
)

// loadWebAuthn reads the passkey relying party: WEBAUTHN_RP_ID (the registrable domain passkeys
// belong to; empty: passkeys are off), WEBAUTHN_RP_DISPLAY_NAME [Latchkey] and WEBAUTHN_RP_ORIGINS
// (comma list of the origins the browser reports, https except on loopback; default
// https://<WEBAUTHN_RP_ID>), WEBAUTHN_MAX_PER_ACCOUNT [20] and WEBAUTHN_CEREMONY_TTL [5m].
func loadWebAuthn(l *config.Loader) (passkey.Config, []error) {
	c := passkey.Config{
		RPID:          l.String("WEBAUTHN_RP_ID", ""),
		RPDisplayName: l.String("WEBAUTHN_RP_DISPLAY_NAME", "Latchkey"),
		MaxPerAccount: l.Int("WEBAUTHN_MAX_PER_ACCOUNT", passkey.DefaultMaxPerAccount),
		CeremonyTTL:   l.Duration("WEBAUTHN_CEREMONY_TTL", passkey.DefaultCeremonyTTL),
	}
	var def []string
	if c.RPID != "" {
		def = []string{"https://" + c.RPID}
	}
	c.RPOrigins = l.List("WEBAUTHN_RP_ORIGINS", def)
	var errs []error
	if c.RPID == "" && len(l.List("WEBAUTHN_RP_ORIGINS", nil)) > 0 {
		errs = append(errs, fmt.Errorf("WEBAUTHN_RP_ORIGINS is set but WEBAUTHN_RP_ID is not: set the RP ID (the domain passkeys belong to) too"))
	}
	if c.MaxPerAccount < 1 || c.MaxPerAccount > 100 {
		errs = append(errs, fmt.Errorf("WEBAUTHN_MAX_PER_ACCOUNT=%d: want 1 to 100", c.MaxPerAccount))
	}
	if c.CeremonyTTL < 30*time.Second || c.CeremonyTTL > 15*time.Minute {
		errs = append(errs, fmt.Errorf("WEBAUTHN_CEREMONY_TTL=%s: want 30s to 15m", c.CeremonyTTL))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errs
}
