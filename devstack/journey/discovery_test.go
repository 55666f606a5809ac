package journey_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/authn"
)

// TestDiscoveryThroughGateway points a verifier at Latchkey the way a gateway (Envoy, Istio, Kong,
// NGINX) is pointed at it: given only the issuer, it reads /.well-known/openid-configuration through
// the gateway, fetches the keys from jwks_uri and accepts a signed-in user's access token. The JWKS
// answers a conditional request through the gateway with 304.
func TestDiscoveryThroughGateway(t *testing.T) {
	c := startStack(t)
	a := register(t, c, "grace")

	doc := c.do("GET", "/.well-known/openid-configuration", nil).want(t, 200, "discovery document")
	issuer, jwksURI := str(doc.Body, "issuer"), str(doc.Body, "jwks_uri")
	if issuer != c.base {
		t.Fatalf("issuer = %q, want the gateway's URL %q (JWT_ISSUER of the local stack)", issuer, c.base)
	}
	if jwksURI != c.base+"/.well-known/jwks.json" {
		t.Fatalf("jwks_uri = %q, want %s/.well-known/jwks.json", jwksURI, c.base)
	}
	if doc.Header.Get("Cache-Control") == "" || doc.Header.Get("ETag") == "" {
		t.Errorf("discovery document without Cache-Control or ETag: %v", doc.Header)
	}

	v := authn.NewVerifier(authn.VerifierConfig{JWKSURL: jwksURI, Issuer: issuer, Audience: "latchkey"})
	p, err := v.Verify(context.Background(), a.access)
	if err != nil {
		t.Fatalf("a verifier configured from the discovery document refuses the access token: %v", err)
	}
	if p.AccountID != a.id || p.SessionID != a.sid {
		t.Errorf("principal = %+v, want account %s, session %s", p, a.id, a.sid)
	}

	jwks := c.do("GET", "/.well-known/jwks.json", nil).want(t, 200, "JWKS")
	etag := jwks.Header.Get("ETag")
	if etag == "" {
		t.Fatal("JWKS without an ETag")
	}
	if r := c.do("GET", "/.well-known/jwks.json", nil, "If-None-Match", etag).want(t, 304, "conditional JWKS"); len(r.Raw) != 0 {
		t.Errorf("304 with a body: %q", r.Raw)
	}
}
