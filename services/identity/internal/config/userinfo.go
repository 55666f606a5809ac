package config

import (
	"fmt"
	"net/url"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// loadUserInfo reads the user-info endpoints that prove access tokens (OAUTH_GOOGLE_USERINFO_URL,
// OAUTH_GITHUB_API_URL); Google and GitHub accept access tokens when their client ids are set.
func loadUserInfo(l *config.Loader, providers []oauth.ProviderConfig) (oauth.UserInfoConfig, []error) {
	c := oauth.UserInfoConfig{
		GoogleUserinfoURL: l.String("OAUTH_GOOGLE_USERINFO_URL", oauth.DefaultGoogleUserinfoURL),
		GitHubAPIURL:      l.String("OAUTH_GITHUB_API_URL", oauth.DefaultGitHubAPIURL),
	}
	var errs []error
	for key, v := range map[string]string{"OAUTH_GOOGLE_USERINFO_URL": c.GoogleUserinfoURL, "OAUTH_GITHUB_API_URL": c.GitHubAPIURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("%s=%q: want an http(s) URL without a query", key, v))
		}
	}
	for _, p := range providers {
		if (p.Name == oauth.Google || p.Name == oauth.GitHub) && len(p.ClientIDs) > 0 {
			c.Enabled = append(c.Enabled, p.Name)
		}
	}
	return c, errs
}
