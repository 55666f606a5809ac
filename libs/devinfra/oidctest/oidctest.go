// Package oidctest is a local OpenID Connect issuer for tests and the local stack: an HTTP server
// that publishes a discovery document and a JWKS (one RSA and one P-256 key) and signs ID tokens
// with RS256 or ES256, the way Google, Apple and other providers do. Pointing a service's provider
// settings (issuer, JWKS URL, client id; see Env) at it exercises the real token verification
// without any third-party service.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Signing algorithms the issuer supports.
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// Issuer is a running local OpenID Connect issuer.
type Issuer struct {
	// URL is the issuer identifier (the iss claim) and the server's base URL.
	URL string
	// JWKSURL is where the public keys are served.
	JWKSURL string
	// UserInfoURL is the user-info endpoint (Google's OAUTH_GOOGLE_USERINFO_URL).
	UserInfoURL string
	// TokenInfoURL is the tokeninfo endpoint (Google's OAUTH_GOOGLE_TOKENINFO_URL): which client an
	// access token was issued to.
	TokenInfoURL string

	srv      *httptest.Server
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	rsaKid   string
	ecKid    string
	jwksHits atomic.Int64

	mu           sync.Mutex
	accessTokens map[string]UserInfo
}

// UserInfo is what the issuer's user-info endpoint (GET /v1/userinfo, Google's OpenID user-info)
// answers for an access token minted by AccessToken.
type UserInfo struct {
	Subject       string
	Email         string
	EmailVerified bool
	// Audience is the OAuth client the token was issued to (tokeninfo's aud and azp); empty:
	// DevClientID. Another client id makes a third-party app's token for the same person.
	Audience string
	// Expired makes tokeninfo answer as Google does for an expired token (400 invalid_token).
	Expired bool
}

// Start generates the signing keys and starts serving. Close stops it.
func Start() (*Issuer, error) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("oidctest: rsa key: %w", err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("oidctest: ec key: %w", err)
	}
	iss := &Issuer{rsaKey: rk, ecKey: ek, rsaKid: "rsa-" + rand.Text()[:8], ecKid: "ec-" + rand.Text()[:8]}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": iss.URL, "jwks_uri": iss.JWKSURL,
			"id_token_signing_alg_values_supported": []string{RS256, ES256},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		iss.jwksHits.Add(1)
		writeJSON(w, map[string]any{"keys": []map[string]string{iss.rsaJWK(), iss.ecJWK()}})
	})
	mux.HandleFunc("POST /token", iss.serveToken)
	mux.HandleFunc("GET /v1/userinfo", iss.serveUserInfo)
	mux.HandleFunc("GET /tokeninfo", iss.serveTokenInfo)
	mux.HandleFunc("POST /tokeninfo", iss.serveTokenInfo)
	mux.HandleFunc("POST /dev/access-token", iss.serveDevAccessToken)
	iss.srv = httptest.NewServer(mux)
	iss.URL = iss.srv.URL
	iss.JWKSURL = iss.srv.URL + "/jwks"
	iss.UserInfoURL = iss.srv.URL + "/v1/userinfo"
	iss.TokenInfoURL = iss.srv.URL + "/tokeninfo"
	return iss, nil
}

// DevClientID is the audience of tokens minted through POST /token when the request names none.
const DevClientID = "latchkey-dev"

// serveToken mints an ID token for whatever claims it is asked for — the local stand-in for a person
// signing in at the provider. Body: {"sub", "email", "email_verified" (default true), "aud" (default
// DevClientID), "nonce", "alg" (RS256 or ES256)} → {"id_token"}. Never expose this issuer beyond
// tests and the local stack.
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Sub           string `json:"sub"`
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		Aud           string `json:"aud"`
		Nonce         string `json:"nonce"`
		Alg           string `json:"alg"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.Sub == "" {
		http.Error(w, `want {"sub": "...", "email": "..."}`, http.StatusBadRequest)
		return
	}
	c := Claims{Subject: req.Sub, Audience: req.Aud, Email: req.Email, EmailVerified: req.EmailVerified == nil || *req.EmailVerified, Nonce: req.Nonce}
	if c.Audience == "" {
		c.Audience = DevClientID
	}
	if req.Alg == "" {
		req.Alg = RS256
	}
	tok, err := i.Sign(req.Alg, c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]string{"id_token": tok})
}

// New starts an issuer that stops when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	iss, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	return iss
}

// Close stops the server.
func (i *Issuer) Close() { i.srv.Close() }

// JWKSRequests counts the JWKS downloads so far (tests of key caching).
func (i *Issuer) JWKSRequests() int { return int(i.jwksHits.Load()) }

// Env returns the environment variables that point a Latchkey identity service's provider (google,
// apple, github) at this issuer with the given client id: OAUTH_<PROVIDER>_ISSUER, _JWKS_URL and
// _CLIENT_IDS, and for google also _USERINFO_URL and _TOKENINFO_URL.
func (i *Issuer) Env(provider, clientID string) map[string]string {
	p := "OAUTH_" + strings.ToUpper(provider) + "_"
	env := map[string]string{p + "ISSUER": i.URL, p + "JWKS_URL": i.JWKSURL, p + "CLIENT_IDS": clientID}
	if strings.EqualFold(provider, "google") { // Google's access tokens are proven at its user-info endpoint
		env[p+"USERINFO_URL"] = i.UserInfoURL
		env[p+"TOKENINFO_URL"] = i.TokenInfoURL
	}
	return env
}

// Claims are the claims of an ID token. Zero values take defaults in Sign: Issuer the issuer's URL,
// IssuedAt now, ExpiresAt an hour after IssuedAt. Extra claims are added as they are.
type Claims struct {
	Issuer        string
	Subject       string
	Audience      string
	Email         string
	EmailVerified bool
	Nonce         string
	IssuedAt      time.Time
	ExpiresAt     time.Time
	Extra         map[string]any
}

func (i *Issuer) claimsMap(c Claims) map[string]any {
	if c.Issuer == "" {
		c.Issuer = i.URL
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	if c.ExpiresAt.IsZero() {
		c.ExpiresAt = c.IssuedAt.Add(time.Hour)
	}
	m := map[string]any{
		"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience,
		"iat": c.IssuedAt.Unix(), "exp": c.ExpiresAt.Unix(),
		// Every token is unique, as a real provider's are (Google's carry a jti): two tokens signed
		// in the same second for the same person are two tokens, not one replayed.
		"jti": newJTI(),
	}
	if c.Email != "" {
		m["email"] = c.Email
		m["email_verified"] = c.EmailVerified
	}
	if c.Nonce != "" {
		m["nonce"] = c.Nonce
	}
	for k, v := range c.Extra {
		m[k] = v
	}
	return m
}

// Sign returns a compact ID token with the claims, signed with alg (RS256 or ES256) by the
// issuer's published key.
func (i *Issuer) Sign(alg string, c Claims) (string, error) {
	switch alg {
	case RS256:
		return signRS256(i.rsaKey, i.rsaKid, i.claimsMap(c))
	case ES256:
		return signES256(i.ecKey, i.ecKid, i.claimsMap(c))
	}
	return "", fmt.Errorf("oidctest: unsupported algorithm %q", alg)
}

// MustSign is Sign for tests.
func (i *Issuer) MustSign(t testing.TB, alg string, c Claims) string {
	t.Helper()
	tok, err := i.Sign(alg, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// SignForeign signs with a fresh RSA key that is not in the JWKS but carries the published RSA key's
// kid: a forged token whose signature must not verify.
func (i *Issuer) SignForeign(c Claims) (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	return signRS256(k, i.rsaKid, i.claimsMap(c))
}

// Unsigned returns a token with "alg":"none" and no signature.
func (i *Issuer) Unsigned(c Claims) string {
	return encodeSegment(map[string]any{"alg": "none", "typ": "JWT"}) + "." + encodeSegment(i.claimsMap(c)) + "."
}

func (i *Issuer) rsaJWK() map[string]string {
	return map[string]string{
		"kty": "RSA", "use": "sig", "alg": RS256, "kid": i.rsaKid,
		"n": b64(i.rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(i.rsaKey.E)).Bytes()),
	}
}

func (i *Issuer) ecJWK() map[string]string {
	pub := i.ecKey.PublicKey
	return map[string]string{
		"kty": "EC", "use": "sig", "alg": ES256, "kid": i.ecKid, "crv": "P-256",
		"x": b64(pub.X.FillBytes(make([]byte, 32))), "y": b64(pub.Y.FillBytes(make([]byte, 32))),
	}
}

func signRS256(k *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	input := encodeSegment(map[string]any{"alg": RS256, "typ": "JWT", "kid": kid}) + "." + encodeSegment(claims)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("oidctest: sign: %w", err)
	}
	return input + "." + b64(sig), nil
}

func signES256(k *ecdsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	input := encodeSegment(map[string]any{"alg": ES256, "typ": "JWT", "kid": kid}) + "." + encodeSegment(claims)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		return "", fmt.Errorf("oidctest: sign: %w", err)
	}
	// JWS ES256 signatures are R || S, each left-padded to 32 bytes (RFC 7518 §3.4).
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return input + "." + b64(sig), nil
}

func encodeSegment(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return b64(raw)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return b64(b[:])
}

// AccessToken issues an opaque access token ("ya29.…", as Google's) that the user-info endpoint
// answers with u, issued to the client u.Audience (default DevClientID).
func (i *Issuer) AccessToken(u UserInfo) string {
	if u.Audience == "" {
		u.Audience = DevClientID
	}
	tok := "ya29." + rand.Text()
	i.mu.Lock()
	if i.accessTokens == nil {
		i.accessTokens = map[string]UserInfo{}
	}
	i.accessTokens[tok] = u
	i.mu.Unlock()
	return tok
}

// serveUserInfo answers GET /v1/userinfo as Google does: the claims of the bearer token's account,
// or 401 with a WWW-Authenticate error for an unknown token.
func (i *Issuer) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	i.mu.Lock()
	u, known := i.accessTokens[tok]
	i.mu.Unlock()
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"Invalid Credentials"}`))
		return
	}
	out := map[string]any{"sub": u.Subject}
	if u.Email != "" {
		out["email"], out["email_verified"] = u.Email, u.EmailVerified
	}
	writeJSON(w, out)
}

// serveTokenInfo answers Google's tokeninfo for an access token (?access_token= or the POST form):
// the client it was issued to (aud, azp), its subject and its remaining lifetime (a string, as
// Google sends it); 400 invalid_token for an unknown or expired token.
func (i *Issuer) serveTokenInfo(w http.ResponseWriter, r *http.Request) {
	tok := r.FormValue("access_token")
	i.mu.Lock()
	u, known := i.accessTokens[tok]
	i.mu.Unlock()
	if tok == "" || !known || u.Expired {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_token","error_description":"Invalid Value"}`))
		return
	}
	out := map[string]any{
		"azp": u.Audience, "aud": u.Audience, "sub": u.Subject, "scope": "openid https://www.googleapis.com/auth/userinfo.email",
		"exp": fmt.Sprint(time.Now().Add(time.Hour).Unix()), "expires_in": "3599", "access_type": "online",
	}
	if u.Email != "" {
		out["email"], out["email_verified"] = u.Email, fmt.Sprint(u.EmailVerified)
	}
	writeJSON(w, out)
}

// serveDevAccessToken mints an access token for the local stack (not a Google endpoint): body
// {"sub", "email", "email_verified" (default true), "aud" (default DevClientID)} → {"access_token"}.
func (i *Issuer) serveDevAccessToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Sub           string `json:"sub"`
		Email         string `json:"email"`
		EmailVerified *bool  `json:"email_verified"`
		Aud           string `json:"aud"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil || req.Sub == "" {
		http.Error(w, `want {"sub": "...", "email": "..."}`, http.StatusBadRequest)
		return
	}
	tok := i.AccessToken(UserInfo{Subject: req.Sub, Email: req.Email, EmailVerified: req.EmailVerified == nil || *req.EmailVerified, Audience: req.Aud})
	writeJSON(w, map[string]string{"access_token": tok, "token_type": "Bearer"})
}
