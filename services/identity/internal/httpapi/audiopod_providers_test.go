package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/githubtest"
	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// withAccessTokens points Google (ID tokens and user-info) at iss and GitHub (access tokens only, no
// OIDC bridge) at the local GitHub API gh, through the production user-info client.
func withAccessTokens(iss *oidctest.Issuer, gh *githubtest.Server) func(*setup) {
	return func(s *setup) {
		withGoogle(iss)(s)
		s.oauth = append(s.oauth, oauth.ProviderConfig{Name: oauth.GitHub, ClientIDs: []string{githubtest.ClientID}})
		s.userInfo = oauth.UserInfoConfig{
			GoogleUserinfoURL: iss.UserInfoURL, GoogleTokenInfoURL: iss.TokenInfoURL, GitHubAPIURL: gh.URL, Enabled: []string{oauth.Google, oauth.GitHub},
			GoogleClientIDs: []string{googleClientID}, GitHubClientIDs: []string{githubtest.ClientID}, GitHubClientSecret: githubtest.ClientSecret,
		}
	}
}

// audioPodLink is the AudioPod account page's body for linking a provider.
func audioPodLink(provider, accountID, accessToken string) map[string]any {
	return map[string]any{
		"provider": provider, "provider_account_id": accountID, "type": "oauth", "access_token": accessToken,
		"refresh_token": "r-1", "expires_at": 1767225600, "scope": "read:user user:email",
	}
}

func TestAudioPodLinkWithAccessToken(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	h := newHarness(t, withAccessTokens(iss, gh))
	_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
	_, bob := h.signedUp(t, "bob@example.com", "bob", "bob-laptop")
	adaGH := githubtest.User{ID: 583231, Login: "ada-l", Email: "ada@users.example", EmailVerified: true}

	t.Run("mismatched provider_account_id is refused, nothing linked", func(t *testing.T) {
		tok := gh.Token(adaGH)
		r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("github", "999", tok))
		if r.status != http.StatusBadRequest || r.str("detail") != "provider_account_id does not match the provider account of the token" {
			t.Errorf("link = %d %s, want 400 mismatch", r.status, r.raw)
		}
		if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).list(t); len(got) != 0 {
			t.Errorf("providers = %v, want none", got)
		}
	})
	t.Run("invalid and revoked access tokens are refused", func(t *testing.T) {
		revoked := gh.Token(adaGH)
		gh.Revoke(revoked)
		for _, tok := range []string{"gho_forged", revoked} {
			r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("github", "583231", tok))
			if r.status != http.StatusBadRequest || r.str("detail") != "Invalid access token" {
				t.Errorf("link = %d %s, want 400 Invalid access token", r.status, r.raw)
			}
		}
		g := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("google", "g-ada", "ya29.forged"))
		if g.status != http.StatusBadRequest || g.str("detail") != "Invalid access token" {
			t.Errorf("google link = %d %s, want 400 Invalid access token", g.status, g.raw)
		}
	})
	t.Run("validation", func(t *testing.T) {
		for name, body := range map[string]map[string]any{
			"no provider_account_id": {"provider": "github", "type": "oauth", "access_token": "gho_x"},
			"no token":               {"provider": "github", "provider_account_id": "1", "type": "oauth"},
			"type not oauth":         {"provider": "github", "provider_account_id": "1", "type": "email", "access_token": "gho_x"},
			"expires_at an object":   {"provider": "github", "provider_account_id": "1", "access_token": "gho_x", "expires_at": map[string]any{}},
		} {
			if r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, body); r.status != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d %s, want 422", name, r.status, r.raw)
			}
		}
		// Apple has no user-info endpoint Latchkey uses: an ID token only.
		if r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("apple", "a-1", "tok")); r.status != http.StatusBadRequest {
			t.Errorf("apple access token: %d %s, want 400", r.status, r.raw)
		}
	})

	// The AudioPod body links GitHub; the answer names the provider and the proven account.
	r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("github", "583231", gh.Token(adaGH))).wantStatus(t, http.StatusCreated, "link github")
	if r.str("provider") != "github" || r.str("provider_account_id") != "583231" || r.str("email") != "ada@users.example" {
		t.Errorf("link = %s", r.raw)
	}
	// And Google by its user-info endpoint.
	gtok := iss.AccessToken(oidctest.UserInfo{Subject: "g-ada", Email: "ada.g@gmail.com", EmailVerified: true, Audience: googleClientID})
	r = h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("google", "g-ada", gtok)).wantStatus(t, http.StatusCreated, "link google")
	if r.str("provider") != "google" || r.str("provider_account_id") != "g-ada" {
		t.Errorf("link = %s", r.raw)
	}
	list := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).wantStatus(t, http.StatusOK, "list").list(t)
	got := map[string]any{}
	for _, p := range list {
		got[p["provider"].(string)] = p["provider_account_id"]
	}
	if len(list) != 2 || got["github"] != "583231" || got["google"] != "g-ada" {
		t.Errorf("providers = %v, want github 583231 and google g-ada", list)
	}

	t.Run("409 when already linked to this or another account", func(t *testing.T) {
		for name, token := range map[string]string{"this account": ada, "another account": bob} {
			r := h.callAs(t, "POST", "/api/v1/auth/account-providers", token, audioPodLink("github", "583231", gh.Token(adaGH)))
			if r.status != http.StatusConflict {
				t.Errorf("%s: %d %s, want 409", name, r.status, r.raw)
			}
		}
		if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", bob, nil).list(t); len(got) != 0 {
			t.Errorf("bob's providers = %v, want none", got)
		}
	})
}

func TestGitHubSignInWithAccessToken(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	h := newHarness(t, withAccessTokens(iss, gh))
	_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
	adaGH := githubtest.User{ID: 77, Login: "ada-l", Email: "ada.gh@users.example", EmailVerified: true}
	h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("github", "77", gh.Token(adaGH))).wantStatus(t, http.StatusCreated, "link")

	// The linked GitHub account signs in to ada's account.
	r := h.callAs(t, "POST", "/api/v1/auth/oauth/github", "", map[string]any{"access_token": gh.Token(adaGH)}).wantStatus(t, http.StatusOK, "sign in")
	if r.str("access_token") == "" {
		t.Fatalf("sign-in = %s, want tokens", r.raw)
	}
	me := h.callAs(t, "GET", "/api/v1/auth/account-providers", r.str("access_token"), nil).wantStatus(t, http.StatusOK, "providers of the new session").list(t)
	if len(me) != 1 || me[0]["provider_account_id"] != "77" {
		t.Errorf("signed in to the wrong account: providers %v", me)
	}

	refused := []struct {
		name string
		body map[string]any
	}{
		{"forged token", map[string]any{"access_token": "gho_forged"}},
		{"provider_account_id of another GitHub account", map[string]any{"access_token": gh.Token(adaGH), "provider_account_id": "78"}},
	}
	for _, tc := range refused {
		if r := h.callAs(t, "POST", "/api/v1/auth/oauth/github", "", tc.body); r.status != http.StatusUnauthorized || r.str("access_token") != "" {
			t.Errorf("%s: %d %s, want 401", tc.name, r.status, r.raw)
		}
	}

	// An unlinked GitHub account with a verified e-mail nobody uses becomes a new account.
	newcomer := githubtest.User{ID: 4242, Login: "zoe", Email: "zoe@users.example", EmailVerified: true}
	r = h.callAs(t, "POST", "/api/v1/auth/oauth/github", "", map[string]any{"access_token": gh.Token(newcomer), "provider_account_id": strconv.Itoa(4242)}).wantStatus(t, http.StatusCreated, "first sign-in")
	if r.str("access_token") == "" {
		t.Errorf("first sign-in = %s", r.raw)
	}
	// Without a verified e-mail (no user:email scope) no account can be made from it.
	noEmail := githubtest.User{ID: 5151, Login: "anon", NoEmailScope: true}
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/github", "", map[string]any{"access_token": gh.Token(noEmail)}); r.status != http.StatusBadRequest {
		t.Errorf("no verified e-mail: %d %s, want 400", r.status, r.raw)
	}
	if gh.Requests() == 0 {
		t.Error("the local GitHub API was never asked")
	}
}

// A provider whose user-info endpoint is unreachable: 503, nothing linked, no account created.
func TestAccessTokenProviderDown(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	tok := gh.Token(githubtest.User{ID: 1, Email: "x@users.example", EmailVerified: true})
	gh.Close() // unreachable from now on
	h := newHarness(t, withAccessTokens(iss, gh))
	_, ada := h.signedUp(t, "ada@example.com", "ada", "laptop")
	if r := h.callAs(t, "POST", "/api/v1/auth/account-providers", ada, audioPodLink("github", "1", tok)); r.status != http.StatusServiceUnavailable || r.str("detail") == "" {
		t.Errorf("link = %d %s, want 503", r.status, r.raw)
	}
	if r := h.callAs(t, "POST", "/api/v1/auth/oauth/github", "", map[string]any{"access_token": tok}); r.status != http.StatusServiceUnavailable {
		t.Errorf("sign-in = %d %s, want 503", r.status, r.raw)
	}
	if got := h.callAs(t, "GET", "/api/v1/auth/account-providers", ada, nil).list(t); len(got) != 0 {
		t.Errorf("providers = %v, want none", got)
	}
}
