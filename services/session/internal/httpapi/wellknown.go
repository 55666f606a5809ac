package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

// Cache lifetimes of the well-known documents. The JWKS changes with a key rotation, whose runbook
// waits longer than this before signing with a new key; the discovery document changes only with
// JWT_ISSUER.
const (
	jwksCacheControl      = "public, max-age=300"
	discoveryCacheControl = "public, max-age=3600"
)

// Discovery is the OpenID Connect discovery document (OpenID Connect Discovery 1.0 §3, also read as
// RFC 8414 metadata) at /.well-known/openid-configuration: what a resource server or gateway (Envoy,
// Istio, Kong, NGINX, Spring, go-oidc...) needs to verify Latchkey's access tokens given only the
// issuer. Latchkey is not an OAuth authorization server (sign-in is its own API), so no authorization
// or token endpoint is announced; the fields the specification requires say what the tokens are.
type Discovery struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
	// ResponseTypesSupported is required by the specification; Latchkey hands out bearer access
	// tokens only.
	ResponseTypesSupported []string `json:"response_types_supported"`
	// SubjectTypesSupported: sub is the account id, the same for every client ("public").
	SubjectTypesSupported []string `json:"subject_types_supported"`
	// IDTokenSigningAlgValuesSupported is the algorithm of every token Latchkey signs (EdDSA); gateways
	// build their algorithm allow-list from it.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	// ClaimsSupported are the claims of an access token.
	ClaimsSupported []string `json:"claims_supported"`
	// ACRValuesSupported are the acr values access tokens carry (session.KnownACR), weakest first.
	ACRValuesSupported []string `json:"acr_values_supported"`
}

// NewDiscovery returns the discovery document of issuer (JWT_ISSUER, validated at start-up).
func NewDiscovery(issuer string) Discovery {
	return Discovery{
		Issuer:                           issuer,
		JWKSURI:                          issuer + "/.well-known/jwks.json",
		ResponseTypesSupported:           []string{"token"},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{authn.Algorithm},
		ClaimsSupported:                  []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "amr", "acr", "auth_time"},
		ACRValuesSupported:               slices.Clone(session.KnownACR),
	}
}

// OpenIDConfiguration serves the discovery document of Config.Issuer; without an issuer there is none.
func (h *Handler) OpenIDConfiguration(c *fiber.Ctx) error {
	if h.discovery == nil {
		return fiber.ErrNotFound
	}
	return sendCacheable(c, h.discovery, discoveryCacheControl)
}

// discoveryJSON encodes the discovery document of issuer once; nil when issuer is empty.
func discoveryJSON(issuer string) []byte {
	if issuer == "" {
		return nil
	}
	raw, err := json.Marshal(NewDiscovery(issuer))
	if err != nil {
		panic(err) // a struct of strings always encodes
	}
	return raw
}

// sendCacheable answers a JSON document that caches may keep for the given Cache-Control, with a
// strong ETag of the body; a request whose If-None-Match names it gets 304 Not Modified without a body,
// so a verifier or gateway polling the keys learns "unchanged" in a few bytes.
func sendCacheable(c *fiber.Ctx, body []byte, cacheControl string) error {
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	c.Set(fiber.HeaderCacheControl, cacheControl)
	c.Set(fiber.HeaderETag, etag)
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), etag) {
		c.Status(fiber.StatusNotModified)
		return nil
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// etagMatches applies If-None-Match (RFC 9110 §13.1.2): "*", or any listed entity tag equal to etag
// under the weak comparison (a W/ prefix is ignored).
func etagMatches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
