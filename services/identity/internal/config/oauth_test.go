package config_test

import (
	"strings"
	"testing"

	platform "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/config"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

func TestLoadOAuthProviders(t *testing.T) {
	t.Parallel()
	c, err := config.Load(platform.NewLoaderFrom(map[string]string{
		"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://s:9082", "PROFILE_INTERNAL_URL": "http://p:9083", "JWKS_URL": "http://s:9082/.well-known/jwks.json",
		"OAUTH_GOOGLE_CLIENT_IDS": "web.apps.googleusercontent.com, ios.apps.googleusercontent.com",
		"OAUTH_APPLE_CLIENT_IDS":  "com.example.app",
		"OAUTH_APPLE_ISSUER":      "http://127.0.0.1:9999",
		"OAUTH_APPLE_JWKS_URL":    "http://127.0.0.1:9999/jwks",
	}))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]oauth.ProviderConfig{}
	for _, p := range c.OAuth {
		byName[p.Name] = p
	}
	g, a, gh := byName[oauth.Google], byName[oauth.Apple], byName[oauth.GitHub]
	if !g.Enabled() || len(g.ClientIDs) != 2 || g.JWKSURL != "https://www.googleapis.com/oauth2/v3/certs" || g.Issuers[0] != "https://accounts.google.com" {
		t.Errorf("google = %+v, want the public defaults and two client ids", g)
	}
	if !a.Enabled() || a.Issuers[0] != "http://127.0.0.1:9999" || a.JWKSURL != "http://127.0.0.1:9999/jwks" {
		t.Errorf("apple = %+v, want the overrides", a)
	}
	if gh.Enabled() {
		t.Errorf("github = %+v, want disabled without settings", gh)
	}

	_, err = config.Load(platform.NewLoaderFrom(map[string]string{
		"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://127.0.0.1:9082", "PROFILE_INTERNAL_URL": "http://127.0.0.1:9083", "JWKS_URL": "http://127.0.0.1:9082/.well-known/jwks.json", "OAUTH_GITHUB_CLIENT_IDS": "x", "OAUTH_GITHUB_JWKS_URL": "ftp://nope",
	}))
	if err == nil || !strings.Contains(err.Error(), "OAUTH_GITHUB_JWKS_URL") || !strings.Contains(err.Error(), "OAUTH_GITHUB_ISSUER") {
		t.Errorf("Load = %v, want errors for the JWKS URL and the missing issuer", err)
	}
}

func TestLoadUserInfoEndpoints(t *testing.T) {
	t.Parallel()
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{"TOTP_ENCRYPTION_KEYS": testTOTPKeys, "INTERNAL_API_TOKEN": token, "SESSION_INTERNAL_URL": "http://s:9082", "PROFILE_INTERNAL_URL": "http://p:9083", "JWKS_URL": "http://s:9082/.well-known/jwks.json"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	// Production defaults; no provider accepts access tokens without a client id.
	c, err := config.Load(platform.NewLoaderFrom(base(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if c.UserInfo.GoogleUserinfoURL != oauth.DefaultGoogleUserinfoURL || c.UserInfo.GitHubAPIURL != "https://api.github.com" || len(c.UserInfo.Enabled) != 0 ||
		c.UserInfo.GoogleTokenInfoURL != "https://oauth2.googleapis.com/tokeninfo" || c.UserInfo.GitHubSecretMissing {
		t.Errorf("UserInfo = %+v, want the production endpoints, none enabled", c.UserInfo)
	}
	// GitHub with a client id and no client secret: its access tokens are refused (a warning, not an
	// error); Google's are bound to its client ids.
	c, err = config.Load(platform.NewLoaderFrom(base(map[string]string{
		"OAUTH_GITHUB_CLIENT_IDS": "Iv1.abc", "OAUTH_GOOGLE_CLIENT_IDS": "web", "OAUTH_GITHUB_API_URL": "http://127.0.0.1:9999",
	})))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.UserInfo.Enabled) != 1 || c.UserInfo.Enabled[0] != oauth.Google || !c.UserInfo.GitHubSecretMissing || c.UserInfo.GoogleClientIDs[0] != "web" {
		t.Errorf("UserInfo = %+v, want google only, GitHub's secret missing", c.UserInfo)
	}
	// With the secret (and no OIDC bridge): GitHub access tokens, checked against the app; the
	// secret never shows in the logged configuration.
	const secret = "gh-app-secret-1234567890"
	c, err = config.Load(platform.NewLoaderFrom(base(map[string]string{
		"OAUTH_GITHUB_CLIENT_IDS": "Iv1.abc", "OAUTH_GOOGLE_CLIENT_IDS": "web", "OAUTH_GITHUB_API_URL": "http://127.0.0.1:9999", "OAUTH_GITHUB_CLIENT_SECRET": secret,
	})))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.UserInfo.Enabled) != 2 || c.UserInfo.GitHubAPIURL != "http://127.0.0.1:9999" || c.UserInfo.GitHubClientSecret.Value() != secret || c.UserInfo.GitHubClientIDs[0] != "Iv1.abc" {
		t.Errorf("UserInfo = %+v, want google and github enabled, the overridden GitHub API", c.UserInfo)
	}
	if logged := c.LogValue().String(); strings.Contains(logged, secret) || !strings.Contains(logged, "oauth_github_client_secret") {
		t.Errorf("logged config shows the GitHub client secret or lacks it: %s", logged)
	}
	// A bad endpoint is a start-up error naming the variable.
	for _, key := range []string{"OAUTH_GOOGLE_USERINFO_URL", "OAUTH_GOOGLE_TOKENINFO_URL", "OAUTH_GITHUB_API_URL"} {
		for _, bad := range []string{"ftp://x", "not a url", "https://x/?token=1"} {
			_, err := config.Load(platform.NewLoaderFrom(base(map[string]string{key: bad})))
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%s=%q: Load = %v, want an error naming it", key, bad, err)
			}
		}
	}
}
