package config

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// DefaultIssuer is JWT_ISSUER when unset: the local stack's gateway (`make run`). A deployment sets
// the public https URL its clients reach Latchkey at (the chart derives it from the ingress host).
const DefaultIssuer = "http://127.0.0.1:8080"

// ValidateIssuer checks an access-token issuer (the iss claim, and the base of the OpenID discovery
// document and the JWKS): an https URL of the host alone, as OpenID Connect Discovery requires, so
// that issuer + "/.well-known/openid-configuration" is where gateways find the keys. Plain http is
// accepted only for a loopback host (localhost, 127.0.0.0/8, ::1), which is what the local stack uses.
func ValidateIssuer(issuer string) error {
	const want = "want an https URL such as https://accounts.example.com (http only for a loopback host)"
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New(want)
	}
	switch {
	case u.User != nil:
		return errors.New("the issuer URL must not carry credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(issuer, "#"):
		return errors.New("the issuer URL must have no query or fragment")
	case u.Path != "" || u.RawPath != "":
		// Discovery and the JWKS are routed at the root of the host; a path would publish URLs
		// nothing serves, and "https://host/" would never equal the iss of "https://host".
		return errors.New("the issuer URL must have no path, not even a trailing slash")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("http is allowed only for a loopback host (the local stack); " + want)
	}
	return errors.New(want)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
