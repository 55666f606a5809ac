package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
	sessionconfig "github.com/latchkey/latchkey/services/session/internal/config"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

// keyFiles writes a fresh Ed25519 key as a PKCS#8 private key file and a PKIX public key file (what
// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write) and returns their paths and kid.
func keyFiles(t *testing.T, dir, name string) (private, public, kid string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	private, public = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub.pem")
	if err := os.WriteFile(private, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return private, public, token.KeyID(pub)
}

func TestLoadKeyringFromFiles(t *testing.T) {
	dir := t.TempDir()
	signing, _, signingKid := keyFiles(t, dir, "current")
	_, nextPub, nextKid := keyFiles(t, dir, "next")
	prevPriv, _, prevKid := keyFiles(t, dir, "previous")
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("-----BEGIN CERTIFICATE-----\nAQ==\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	load := func(env map[string]string) (*token.Keyring, error) {
		env["INTERNAL_API_TOKEN"] = internalToken
		env["IDENTITY_INTERNAL_URL"] = "http://127.0.0.1:9081" // required; not called here
		cfg, err := sessionconfig.Load(config.NewLoaderFrom(env))
		if err != nil {
			return nil, err
		}
		return loadKeyring(context.Background(), cfg, nil) // file keys never touch MongoDB
	}
	keys, err := load(map[string]string{"JWT_SIGNING_KEY_FILE": signing, "JWT_VERIFICATION_KEY_FILES": nextPub + "," + prevPriv})
	if err != nil {
		t.Fatal(err)
	}
	if keys.Signer().ID != signingKid {
		t.Errorf("signer = %s, want the JWT_SIGNING_KEY_FILE key %s", keys.Signer().ID, signingKid)
	}
	var published []string
	for _, k := range keys.JWKS().Keys {
		published = append(published, k.Kid)
	}
	if want := []string{signingKid, nextKid, prevKid}; !slices.Equal(published, want) {
		t.Errorf("published kids = %v, want %v", published, want)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad verification file", map[string]string{"JWT_SIGNING_KEY_FILE": signing, "JWT_VERIFICATION_KEY_FILES": junk}, "JWT_VERIFICATION_KEY_FILES: verification key " + junk},
		{"missing verification file", map[string]string{"JWT_SIGNING_KEY_FILE": signing, "JWT_VERIFICATION_KEY_FILES": filepath.Join(dir, "gone.pem")}, "JWT_VERIFICATION_KEY_FILES"},
		{"public key as signing key", map[string]string{"JWT_SIGNING_KEY_FILE": nextPub}, "JWT_SIGNING_KEY_FILE"},
		{"verification keys alone", map[string]string{"JWT_VERIFICATION_KEY_FILES": nextPub}, "JWT_VERIFICATION_KEY_FILES needs JWT_SIGNING_KEY_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// tokenHealth asks a session service whether it accepts an access token.
func tokenHealth(t *testing.T, base, accessToken string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/auth/token-health", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSigningKeyRotation runs the README's rotation with file-based keys: each step is a session
// service started with the next configuration on the same database, and adjacent steps run side by
// side as replicas do during a rolling update. No token issued before or during the rotation is
// refused by a replica of the same or the next step, nor by another service's verifier that cached the
// JWKS before the rotation began.
func TestSigningKeyRotation(t *testing.T) {
	dir := t.TempDir()
	oldKey, oldPub, oldKid := keyFiles(t, dir, "old")
	newKey, newPub, newKid := keyFiles(t, dir, "new")
	env := baseEnv(t)
	step := func(signing string, verification ...string) *instance {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["JWT_SIGNING_KEY_FILE"] = signing
		e["JWT_VERIFICATION_KEY_FILES"] = strings.Join(verification, ",")
		return start(t, e)
	}
	type issued struct {
		name, access, refresh string
	}
	createSession := func(inst *instance, name string) issued {
		var created struct{ SessionID, AccessToken, RefreshToken string }
		if status := postJSON(t, inst.internal+"/internal/v1/sessions", "Bearer "+internalToken,
			map[string]string{"accountId": "acc-rot", "deviceName": name}, &created); status != http.StatusCreated {
			t.Fatalf("create session at %s: status %d", name, status)
		}
		return issued{name: name, access: created.AccessToken, refresh: created.RefreshToken}
	}

	// Another service's verifier fetches the JWKS through the cluster Service, which reaches whichever
	// replica is current. Its RefetchInterval is shortened only so the test need not wait 30 s; in a
	// cluster the runbook's wait between steps lets its background refresh learn the new key first.
	var current atomic.Pointer[url.URL]
	jwksService := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(current.Load()) }})
	t.Cleanup(jwksService.Close)
	setCurrent := func(inst *instance) {
		u, err := url.Parse(inst.internal)
		if err != nil {
			t.Fatal(err)
		}
		current.Store(u)
	}
	remote := authn.NewVerifier(authn.VerifierConfig{JWKSURL: jwksService.URL + "/.well-known/jwks.json",
		Issuer: config.DefaultIssuer, Audience: "latchkey", RefetchInterval: time.Nanosecond})

	// Step 0, before the rotation: the old key signs alone.
	step0 := step(oldKey)
	setCurrent(step0)
	before := createSession(step0, "before")
	if _, err := remote.Verify(context.Background(), before.access); err != nil {
		t.Fatalf("remote verifier: %v", err)
	}

	// Step 1: the new key is published, verification only (its public half is enough).
	step1 := step(oldKey, newPub)
	setCurrent(step1)
	var set jwks
	getJSON(t, step1.public+"/.well-known/jwks.json", &set)
	if len(set.Keys) != 2 || set.Keys[0].Kid != oldKid || set.Keys[1].Kid != newKid {
		t.Fatalf("step 1 publishes %+v, want the old key then the new one", set)
	}
	during := createSession(step1, "during")

	// Step 2: the new key signs; the old one stays published (its public half) until its tokens expire.
	step2 := step(newKey, oldPub)
	after := createSession(step2, "after")
	var refreshed struct {
		AccessToken string `json:"access_token"`
	}
	if status := postJSON(t, step2.public+"/api/v1/auth/refresh", "", map[string]string{"refresh_token": before.refresh}, &refreshed); status != http.StatusOK {
		t.Fatalf("refresh of a pre-rotation session at step 2: status %d", status)
	}
	refreshedBefore := issued{name: "refreshed at step 2", access: refreshed.AccessToken}
	for _, tok := range []issued{after, refreshedBefore} {
		if kid := kidOf(t, tok.access); kid != newKid {
			t.Fatalf("%s: token signed by %s, want the new key %s", tok.name, kid, newKid)
		}
	}

	// Every token against every replica of steps 1 and 2 (running side by side), and against the remote
	// verifier, which still has step 0's JWKS cached when it first meets the new kid.
	tokens := []issued{before, during, after, refreshedBefore}
	for _, inst := range []struct {
		name string
		*instance
	}{{"step 1", step1}, {"step 2", step2}} {
		for _, tok := range tokens {
			if status := tokenHealth(t, inst.public, tok.access); status != http.StatusOK {
				t.Errorf("%s refuses the token issued %s: status %d", inst.name, tok.name, status)
			}
		}
	}
	setCurrent(step2)
	for _, tok := range tokens {
		if _, err := remote.Verify(context.Background(), tok.access); err != nil {
			t.Errorf("remote verifier refuses the token issued %s: %v", tok.name, err)
		}
	}

	// Why step 1 must reach every replica before step 2: a replica still at step 0 cannot verify the new key.
	if status := tokenHealth(t, step0.public, after.access); status != http.StatusUnauthorized {
		t.Errorf("a step-0 replica answers %d to a new-key token, want 401", status)
	}
	// Step 3, one access-token lifetime later: the old key is dropped, and only then are its tokens refused.
	step3 := step(newKey)
	if status := tokenHealth(t, step3.public, after.access); status != http.StatusOK {
		t.Errorf("step 3 refuses a new-key token: status %d", status)
	}
	if status := tokenHealth(t, step3.public, during.access); status != http.StatusUnauthorized {
		t.Errorf("step 3 answers %d to an old-key token, want 401 (the old key is gone)", status)
	}
}

// kidOf reads the kid from a token's header without verifying it.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}
