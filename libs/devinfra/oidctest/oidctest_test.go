package oidctest_test

import (
	"encoding/json"
	"net/http"
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
