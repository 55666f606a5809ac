package config

import (
	"fmt"
	"net/url"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// loadUserInfo reads the endpoints that prove access tokens (OAUTH_GOOGLE_USERINFO_URL,
// OAUTH_GOOGLE_TOKENINFO_URL, OAUTH_GITHUB_API_URL) and GitHub's app secret
// (OAUTH_GITHUB_CLIENT_SECRET). Google accepts access tokens when its client ids are set (a token
// must have been issued to one of them); GitHub when its client ids and the client secret are set
// (the token is checked against the app). GitHubSecretMissing tells that GitHub has client ids but
// no secret: its access tokens are refused.
func loadUserInfo(l *config.Loader, providers []oauth.ProviderConfig) (oauth.UserInfoConfig, []error) {
	c := oauth.UserInfoConfig{
		GoogleUserinfoURL:  l.String("OAUTH_GOOGLE_USERINFO_URL", oauth.DefaultGoogleUserinfoURL),
		GoogleTokenInfoURL: l.String("OAUTH_GOOGLE_TOKENINFO_URL", oauth.DefaultGoogleTokenInfoURL),
		GitHubAPIURL:       l.String("OAUTH_GITHUB_API_URL", oauth.DefaultGitHubAPIURL),
		GitHubClientSecret: l.Secret("OAUTH_GITHUB_CLIENT_SECRET", ""),
	}
	var errs []error
	for key, v := range map[string]string{"OAUTH_GOOGLE_USERINFO_URL": c.GoogleUserinfoURL, "OAUTH_GOOGLE_TOKENINFO_URL": c.GoogleTokenInfoURL, "OAUTH_GITHUB_API_URL": c.GitHubAPIURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("%s=%q: want an http(s) URL without a query", key, v))
		}
	}
	for _, p := range providers {
		switch {
		case len(p.ClientIDs) == 0:
		case p.Name == oauth.Google:
			c.GoogleClientIDs = p.ClientIDs
			c.Enabled = append(c.Enabled, p.Name)
		case p.Name == oauth.GitHub:
			c.GitHubClientIDs = p.ClientIDs
			if c.GitHubClientSecret == "" {
				c.GitHubSecretMissing = true
				continue
			}
			c.Enabled = append(c.Enabled, p.Name)
		}
	}
	return c, errs
}
