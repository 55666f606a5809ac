package oauth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/githubtest"
	"github.com/latchkey/latchkey/libs/devinfra/oidctest"
	"github.com/latchkey/latchkey/libs/platform/config"
)

const ourGoogleClient = "ours.apps.googleusercontent.com"

func bound(iss *oidctest.Issuer, gh *githubtest.Server, secret string) *UserInfo {
	return NewUserInfo(UserInfoConfig{
		GoogleUserinfoURL: iss.UserInfoURL, GoogleTokenInfoURL: iss.TokenInfoURL, GitHubAPIURL: gh.URL,
		Enabled:         []string{Google, GitHub},
		GoogleClientIDs: []string{"other-platform.apps.googleusercontent.com", ourGoogleClient},
		GitHubClientIDs: []string{"Iv1.retired", githubtest.ClientID}, GitHubClientSecret: secretOf(secret),
	}, nil)
}

// A token the provider issued to another OAuth app, for the right person, proves nothing to Latchkey.
func TestAccessTokenBoundToOurApp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	u := bound(iss, gh, githubtest.ClientSecret)
	ada := githubtest.User{ID: 42, Login: "ada", Email: "ada@users.example", EmailVerified: true}
	adaG := oidctest.UserInfo{Subject: "g-ada", Email: "ada@gmail.com", EmailVerified: true}

	// Our app's tokens prove the account (the second configured client id / app matches).
	if id, err := u.VerifyAccessToken(ctx, GitHub, gh.Token(ada)); err != nil || id.Subject != "42" || id.Email != "ada@users.example" {
		t.Errorf("our GitHub token: %+v, %v", id, err)
	}
	gOurs := adaG
	gOurs.Audience = ourGoogleClient
	if id, err := u.VerifyAccessToken(ctx, Google, iss.AccessToken(gOurs)); err != nil || id.Subject != "g-ada" || !id.EmailVerified {
		t.Errorf("our Google token: %+v, %v", id, err)
	}

	gForeign := adaG
	gForeign.Audience = "third-party.apps.googleusercontent.com"
	gExpired := gOurs
	gExpired.Expired = true
	refused := map[string]struct {
		provider, token string
		u               *UserInfo
	}{
		"github token of another app":  {GitHub, gh.TokenFor(githubtest.ForeignClientID, ada), u},
		"google token of another app":  {Google, iss.AccessToken(gForeign), u},
		"google expired token":         {Google, iss.AccessToken(gExpired), u},
		"wrong github client secret":   {GitHub, gh.Token(ada), bound(iss, gh, "not-the-secret")},
		"github without client secret": {GitHub, gh.Token(ada), bound(iss, gh, "")},
	}
	for name, tc := range refused {
		_, err := tc.u.VerifyAccessToken(ctx, tc.provider, tc.token)
		if !errors.Is(err, ErrInvalidToken) && !errors.Is(err, ErrProviderDisabled) {
			t.Errorf("%s: err = %v, want refused", name, err)
		}
		if err != nil && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: the error shows the token: %v", name, err)
		}
	}
	if _, err := bound(iss, gh, "").VerifyAccessToken(ctx, GitHub, gh.Token(ada)); !errors.Is(err, ErrProviderDisabled) {
		t.Errorf("github without client secret: err = %v, want ErrProviderDisabled", err)
	}
}

// Odd tokeninfo / check answers: an expires_in of 0, a check answering 404 for our own token, a
// check that is down, and subjects that disagree.
func TestAccessTokenBindingAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	iss := oidctest.New(t)
	gh := githubtest.New(t)
	tokenInfo := func(body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.RawQuery != "" || r.FormValue("access_token") == "" {
				w.WriteHeader(http.StatusTeapot) // the token must come in the body, never the URL
				return
			}
			_, _ = w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	tok := iss.AccessToken(oidctest.UserInfo{Subject: "g-1", Audience: ourGoogleClient})
	for name, tc := range map[string]struct {
		body string
		want error
	}{
		"expires_in 0":          {`{"aud":"` + ourGoogleClient + `","sub":"g-1","expires_in":"0"}`, ErrInvalidToken},
		"no expires_in":         {`{"aud":"` + ourGoogleClient + `","sub":"g-1"}`, ErrInvalidToken},
		"other sub":             {`{"aud":"` + ourGoogleClient + `","sub":"g-2","expires_in":"3599"}`, ErrInvalidToken},
		"azp ours, aud another": {`{"aud":"x","azp":"` + ourGoogleClient + `","sub":"g-1","expires_in":3599}`, nil},
	} {
		u := NewUserInfo(UserInfoConfig{GoogleUserinfoURL: iss.UserInfoURL, GoogleTokenInfoURL: tokenInfo(tc.body), Enabled: []string{Google}, GoogleClientIDs: []string{ourGoogleClient}}, nil)
		if _, err := u.VerifyAccessToken(ctx, Google, tok); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}

	// GitHub's check answering 404 refuses even a token GET /user accepts; a check that is down is
	// unavailable, not refused.
	status := http.StatusNotFound
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/applications/") {
			w.WriteHeader(status)
			return
		}
		// Everything else goes to the real fake (GET /user, /user/emails).
		req, _ := http.NewRequest(r.Method, gh.URL+r.URL.Path, r.Body)
		req.Header = r.Header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		_, _ = w.Write(b.Bytes())
	}))
	t.Cleanup(check.Close)
	u := NewUserInfo(UserInfoConfig{GitHubAPIURL: check.URL, Enabled: []string{GitHub}, GitHubClientIDs: []string{githubtest.ClientID}, GitHubClientSecret: githubtest.ClientSecret}, nil)
	ghTok := gh.Token(githubtest.User{ID: 5})
	if _, err := u.VerifyAccessToken(ctx, GitHub, ghTok); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("check 404: err = %v, want ErrInvalidToken", err)
	}
	status = http.StatusServiceUnavailable
	if _, err := u.VerifyAccessToken(ctx, GitHub, ghTok); !errors.Is(err, ErrProviderUnavailable) {
		t.Errorf("check 503: err = %v, want ErrProviderUnavailable", err)
	}

	// A tokeninfo endpoint that is unreachable: unavailable, and the error holds no token.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	var logs bytes.Buffer
	u = NewUserInfo(UserInfoConfig{GoogleUserinfoURL: iss.UserInfoURL, GoogleTokenInfoURL: down.URL, Enabled: []string{Google}, GoogleClientIDs: []string{ourGoogleClient}}, nil)
	_, err := u.VerifyAccessToken(ctx, Google, tok)
	slog.New(slog.NewTextHandler(&logs, nil)).Error("verify", "err", err)
	if !errors.Is(err, ErrProviderUnavailable) || strings.Contains(logs.String(), tok) {
		t.Errorf("tokeninfo down: err = %v (logged %q), want ErrProviderUnavailable without the token", err, logs.String())
	}
}

func secretOf(s string) config.Secret { return config.Secret(s) }
