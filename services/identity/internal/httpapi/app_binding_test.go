package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/githubtest"
	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/platform/config"
)

func (h *harness) sessionsStarted() int {
	h.sessions.mu.Lock()
	defer h.sessions.mu.Unlock()
	return len(h.sessions.reqs)
}

// Token substitution: a third-party app that holds a person's Google or GitHub access token (issued
// to that app, for the right person) must not sign in to Latchkey as them nor link their provider
// account. Our own app's tokens still work.
func TestProviderAccessTokenOfAnotherApp(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	h := newHarness(t, withAccessTokens(iss, gh))
	_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
	adaGH := githubtest.User{ID: 31337, Login: "ada-l", Email: "ada.gh@users.example", EmailVerified: true}
	adaG := oidctest.UserInfo{Subject: "g-ada-31337", Email: "ada.g@gmail.com", EmailVerified: true}
	foreignG := adaG
	foreignG.Audience = "third-party.apps.googleusercontent.com"
	oursG := adaG
	oursG.Audience = googleClientID

	foreign := map[string]struct{ provider, account, token string }{
		"github": {"github", "31337", gh.TokenFor(githubtest.ForeignClientID, adaGH)},
		"google": {"google", "g-ada-31337", iss.AccessToken(foreignG)},
	}
	for name, tc := range foreign {
		before := h.sessionsStarted()
		r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink(tc.provider, tc.account, tc.token))
		if r.status != http.StatusBadRequest || r.str("detail") != "Invalid access token" {
			t.Errorf("%s: link with another app's token = %d %s, want 400 Invalid access token", name, r.status, r.raw)
		}
		for _, body := range []map[string]any{{"access_token": tc.token}, {"access_token": tc.token, "provider_account_id": tc.account}} {
			if r := h.callAs(t, "POST", "/api/v1/auth/oauth/"+tc.provider, "", body); r.status != http.StatusUnauthorized || r.str("access_token") != "" {
				t.Errorf("%s: sign-in with another app's token = %d %s, want 401", name, r.status, r.raw)
			}
		}
		if got := h.sessionsStarted(); got != before {
			t.Errorf("%s: %d sessions started by refused tokens", name, got-before)
		}
	}
	if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).list(t); len(got) != 0 {
		t.Fatalf("providers = %v, want none linked", got)
	}

	// Our app's tokens for the same people link and sign in.
	h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("github", "31337", gh.Token(adaGH))).wantStatus(t, http.StatusCreated, "link github with our token")
	h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("google", "g-ada-31337", iss.AccessToken(oursG))).wantStatus(t, http.StatusCreated, "link google with our token")
	for provider, tok := range map[string]string{"github": gh.Token(adaGH), "google": iss.AccessToken(oursG)} {
		r := h.callAs(t, "POST", "/api/v1/auth/oauth/"+provider, "", map[string]any{"access_token": tok}).wantStatus(t, http.StatusOK, provider+" sign-in with our token")
		if r.str("access_token") == "" {
			t.Errorf("%s sign-in = %s, want tokens", provider, r.raw)
		}
	}
	// Once linked, another app's token still signs in to nothing.
	for name, tc := range foreign {
		if r := h.callAs(t, "POST", "/api/v1/auth/oauth/"+tc.provider, "", map[string]any{"access_token": tc.token}); r.status != http.StatusUnauthorized {
			t.Errorf("%s: sign-in of a linked account with another app's token = %d %s, want 401", name, r.status, r.raw)
		}
	}
}

// GitHub tokens are checked with the app's client secret: a wrong secret (GitHub's check answers
// 404) or none at all refuses every token, our own app's included.
func TestGitHubAccessTokenAppCredentials(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	adaGH := githubtest.User{ID: 808, Login: "ada-l", Email: "ada.808@users.example", EmailVerified: true}
	for name, secret := range map[string]string{"wrong secret": "not-the-app-secret", "no secret": ""} {
		h := newHarness(t, withAccessTokens(iss, gh), func(s *setup) { s.userInfo.GitHubClientSecret = config.Secret(secret) })
		_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
		if r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("github", "808", gh.Token(adaGH))); r.status != http.StatusBadRequest {
			t.Errorf("%s: link = %d %s, want 400", name, r.status, r.raw)
		}
		if r := h.callAs(t, "POST", "/api/v1/auth/oauth/github", "", map[string]any{"access_token": gh.Token(adaGH)}); r.status < 400 || r.status >= 500 || r.str("access_token") != "" {
			t.Errorf("%s: sign-in = %d %s, want refused", name, r.status, r.raw)
		}
		if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).list(t); len(got) != 0 {
			t.Errorf("%s: providers = %v, want none", name, got)
		}
	}
}

// Google's tokeninfo unreachable: 503 for linking and sign-in, nothing linked.
func TestGoogleTokenInfoDown(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	h := newHarness(t, withAccessTokens(iss, gh), func(s *setup) { s.userInfo.GoogleTokenInfoURL = "http://127.0.0.1:1/tokeninfo" })
	_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
	tok := iss.AccessToken(oidctest.UserInfo{Subject: "g-1", Email: "x@gmail.com", EmailVerified: true, Audience: googleClientID})
	if r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("google", "g-1", tok)); r.status != http.StatusServiceUnavailable {
		t.Errorf("link = %d %s, want 503", r.status, r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/google", "", map[string]any{"access_token": tok}); r.status != http.StatusServiceUnavailable {
		t.Errorf("sign-in = %d %s, want 503", r.status, r.raw)
	}
	if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).list(t); len(got) != 0 {
		t.Errorf("providers = %v, want none", got)
	}
}
