package oidctest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
)

func TestIssuerServesDiscoveryJWKSAndTokens(t *testing.T) {
	iss := oidctest.New(t)
	get := func(url string, v any) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var disc map[string]any
	get(iss.URL+"/.well-known/openid-configuration", &disc)
	if disc["issuer"] != iss.URL || disc["jwks_uri"] != iss.JWKSURL {
		t.Errorf("discovery = %v", disc)
	}
	var jwks struct {
		Keys []map[string]string `json:"keys"`
	}
	get(iss.JWKSURL, &jwks)
	if len(jwks.Keys) != 2 || jwks.Keys[0]["kty"] != "RSA" || jwks.Keys[1]["kty"] != "EC" || iss.JWKSRequests() != 1 {
		t.Errorf("jwks = %v (requests %d), want an RSA and an EC key", jwks, iss.JWKSRequests())
	}

	for _, alg := range []string{oidctest.RS256, oidctest.ES256} {
		resp, err := http.Post(iss.URL+"/token", "application/json", strings.NewReader(`{"sub":"u-1","email":"a@example.com","alg":"`+alg+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if parts := strings.Split(out["id_token"], "."); len(parts) != 3 || parts[2] == "" {
			t.Errorf("%s token = %q, want a signed compact JWS", alg, out["id_token"])
		}
	}
	resp, err := http.Post(iss.URL+"/token", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("token without sub = %d, want 400", resp.StatusCode)
	}
	env := iss.Env("google", "cid")
	if env["OAUTH_GOOGLE_ISSUER"] != iss.URL || env["OAUTH_GOOGLE_JWKS_URL"] != iss.JWKSURL || env["OAUTH_GOOGLE_CLIENT_IDS"] != "cid" {
		t.Errorf("Env = %v", env)
	}
}

// tokeninfo names the client an access token was issued to; an unknown or expired token is 400.
func TestTokenInfo(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	info := func(tok string) (int, map[string]any) {
		resp, err := http.PostForm(iss.TokenInfoURL, url.Values{"access_token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if st, out := info(iss.AccessToken(oidctest.UserInfo{Subject: "s-1"})); st != http.StatusOK || out["aud"] != oidctest.DevClientID || out["azp"] != oidctest.DevClientID || out["sub"] != "s-1" || out["expires_in"] != "3599" {
		t.Errorf("default = %d %v, want aud DevClientID", st, out)
	}
	if st, out := info(iss.AccessToken(oidctest.UserInfo{Subject: "s-1", Audience: "other"})); st != http.StatusOK || out["aud"] != "other" {
		t.Errorf("other app = %d %v, want aud other", st, out)
	}
	for name, tok := range map[string]string{"unknown": "ya29.x", "expired": iss.AccessToken(oidctest.UserInfo{Subject: "s-1", Expired: true})} {
		if st, out := info(tok); st != http.StatusBadRequest || out["error"] != "invalid_token" {
			t.Errorf("%s = %d %v, want 400 invalid_token", name, st, out)
		}
	}
}
