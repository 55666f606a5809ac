package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/githubtest"
)

func TestUserInfoFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	gh := githubtest.New(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	t.Cleanup(down.Close)
	weird := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"id":"abc"}`)) }))
	t.Cleanup(weird.Close)
	mk := func(api string, enabled ...string) *UserInfo {
		return NewUserInfo(UserInfoConfig{GoogleUserinfoURL: api + "/v1/userinfo", GoogleTokenInfoURL: api + "/tokeninfo", GitHubAPIURL: api, Enabled: enabled,
			GitHubClientIDs: []string{githubtest.ClientID}, GitHubClientSecret: githubtest.ClientSecret}, nil)
	}
	tok := gh.Token(githubtest.User{ID: 12, Login: "x"})
	tests := []struct {
		name     string
		u        *UserInfo
		provider string
		token    string
		want     error
	}{
		{"github off without a client id", mk(gh.URL), GitHub, tok, ErrProviderDisabled},
		{"apple has no user-info", mk(gh.URL, Apple), Apple, tok, ErrAccessTokenUnsupported},
		{"provider answering 5xx", mk(down.URL, GitHub), GitHub, tok, ErrProviderUnavailable},
		{"user without a numeric id", mk(weird.URL, GitHub), GitHub, tok, ErrInvalidToken},
		{"token with a line break", mk(gh.URL, GitHub), GitHub, "gho_a\r\nX-Evil: 1", ErrInvalidToken},
		{"unknown token", mk(gh.URL, GitHub), GitHub, "gho_unknown", ErrInvalidToken},
	}
	for _, tc := range tests {
		if _, err := tc.u.VerifyAccessToken(ctx, tc.provider, tc.token); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// A GitHub token without the user:email scope proves the account, without a verified e-mail.
	id, err := mk(gh.URL, GitHub).VerifyAccessToken(ctx, GitHub, gh.Token(githubtest.User{ID: 34, Email: "a@b.example", EmailVerified: true, NoEmailScope: true}))
	if err != nil || id.Subject != "34" || id.EmailVerified || id.Email != "" || id.TokenKey != "" {
		t.Errorf("no user:email scope: %+v, %v, want subject 34 and no verified e-mail", id, err)
	}
}
