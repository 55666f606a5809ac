package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// Production endpoints of the user-info APIs that prove an access token's owner.
const (
	// DefaultGoogleUserinfoURL is Google's OpenID Connect user-info endpoint.
	DefaultGoogleUserinfoURL = "https://openidconnect.googleapis.com/v1/userinfo"
	// DefaultGitHubAPIURL is the base URL of GitHub's REST API (GET /user, GET /user/emails).
	DefaultGitHubAPIURL = "https://api.github.com"
	// DefaultGoogleTokenInfoURL is Google's tokeninfo endpoint, which names the OAuth client (aud,
	// azp) an access token was issued to.
	DefaultGoogleTokenInfoURL = "https://oauth2.googleapis.com/tokeninfo"
	maxAccessToken            = 4096
	maxUserInfoBytes          = 1 << 20
)

// Errors of access-token verification.
var (
	// ErrAccessTokenUnsupported: the provider has no user-info endpoint Latchkey uses (Apple); its
	// ownership is proven with an ID token.
	ErrAccessTokenUnsupported = errors.New("provider does not accept access tokens")
	// ErrProviderUnavailable: the provider's user-info endpoint could not be used (network, 5xx).
	ErrProviderUnavailable = errors.New("provider user-info unavailable")
)

// UserInfoConfig says where the providers' user-info endpoints are and which providers accept access
// tokens (Google: OAUTH_GOOGLE_CLIENT_IDS set; GitHub: OAUTH_GITHUB_CLIENT_IDS and the client secret).
type UserInfoConfig struct {
	GoogleUserinfoURL  string // DefaultGoogleUserinfoURL in production
	GoogleTokenInfoURL string // DefaultGoogleTokenInfoURL in production
	GitHubAPIURL       string // DefaultGitHubAPIURL in production
	Enabled            []string
	// The OAuth apps an access token must have been issued to: a token of any other app (a
	// third-party app holding the person's token) proves nothing to Latchkey.
	GoogleClientIDs []string // tokeninfo's aud or azp must be one of them
	GitHubClientIDs []string // GitHub's "check a token" API is asked with each
	// GitHubClientSecret authenticates the check (HTTP Basic client_id:secret). Without it GitHub
	// access tokens are refused (the provider is treated as off for them).
	GitHubClientSecret config.Secret
	// GitHubSecretMissing: GitHub has client ids but no OAUTH_GITHUB_CLIENT_SECRET (a start-up
	// warning; GitHub access tokens are refused).
	GitHubSecretMissing bool
}

// UserInfo proves the owner of an access token by asking the provider who it belongs to: Google's
// OpenID user-info endpoint (sub) or GitHub's GET /user (the numeric id). It is safe for concurrent
// use. The token is sent only to the configured endpoint and never logged.
type UserInfo struct {
	client  *http.Client
	cfg     UserInfoConfig
	enabled map[string]bool
}

// NewUserInfo returns a UserInfo over client (nil: a client with a 5 s timeout).
func NewUserInfo(cfg UserInfoConfig, client *http.Client) *UserInfo {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	u := &UserInfo{client: client, cfg: cfg, enabled: map[string]bool{}}
	for _, p := range cfg.Enabled {
		// A token is only accepted when the app it must belong to can be checked.
		switch {
		case p == Google && len(cfg.GoogleClientIDs) == 0,
			p == GitHub && (len(cfg.GitHubClientIDs) == 0 || cfg.GitHubClientSecret == ""):
			continue
		}
		u.enabled[p] = true
	}
	return u
}

// VerifyAccessToken returns the identity of the provider account token was issued for. Errors wrap
// ErrProviderDisabled, ErrAccessTokenUnsupported, ErrInvalidToken (the provider refused the token or
// answered something unusable) or ErrProviderUnavailable. The identity has no TokenKey: an access
// token is not single-use.
func (u *UserInfo) VerifyAccessToken(ctx context.Context, provider, token string) (Identity, error) {
	if provider == Apple {
		return Identity{}, ErrAccessTokenUnsupported
	}
	if !u.enabled[provider] {
		return Identity{}, ErrProviderDisabled
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxAccessToken || strings.ContainsAny(token, " \r\n\t") {
		return Identity{}, fmt.Errorf("%w: empty, oversized or malformed access token", ErrInvalidToken)
	}
	switch provider {
	case Google:
		return u.google(ctx, token)
	case GitHub:
		return u.github(ctx, token)
	}
	return Identity{}, ErrProviderDisabled
}

func (u *UserInfo) google(ctx context.Context, token string) (Identity, error) {
	var info struct {
		Sub           string `json:"sub"`
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"`
	}
	sub, err := u.googleTokenInfo(ctx, token)
	if err != nil {
		return Identity{}, err
	}
	if err := u.get(ctx, u.cfg.GoogleUserinfoURL, token, nil, &info); err != nil {
		return Identity{}, err
	}
	if info.Sub == "" || len(info.Sub) > 255 {
		return Identity{}, fmt.Errorf("%w: user-info has no usable sub", ErrInvalidToken)
	}
	if info.Sub != sub {
		return Identity{}, fmt.Errorf("%w: user-info and tokeninfo name different subjects", ErrInvalidToken)
	}
	id := Identity{Provider: Google, Subject: info.Sub, Email: strings.ToLower(strings.TrimSpace(info.Email))}
	switch ev := info.EmailVerified.(type) {
	case bool:
		id.EmailVerified = ev
	case string:
		id.EmailVerified = ev == "true"
	}
	return id, nil
}

var githubHeaders = map[string]string{
	"Accept":               "application/vnd.github+json",
	"X-GitHub-Api-Version": "2022-11-28",
}

func (u *UserInfo) github(ctx context.Context, token string) (Identity, error) {
	base := strings.TrimRight(u.cfg.GitHubAPIURL, "/")
	checked, err := u.githubCheckToken(ctx, base, token)
	if err != nil {
		return Identity{}, err
	}
	var user struct {
		ID json.Number `json:"id"`
	}
	if err := u.get(ctx, base+"/user", token, githubHeaders, &user); err != nil {
		return Identity{}, err
	}
	n, err := strconv.ParseInt(user.ID.String(), 10, 64)
	if err != nil || n <= 0 {
		return Identity{}, fmt.Errorf("%w: GitHub user has no usable id", ErrInvalidToken)
	}
	if n != checked {
		return Identity{}, fmt.Errorf("%w: GET /user and the token check name different users", ErrInvalidToken)
	}
	id := Identity{Provider: GitHub, Subject: strconv.FormatInt(n, 10)}
	// The primary e-mail and whether GitHub verified it (needs the user:email scope; without it the
	// identity simply has no verified e-mail).
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	switch err := u.get(ctx, base+"/user/emails", token, githubHeaders, &emails); {
	case err == nil:
		for _, e := range emails {
			if e.Primary && e.Verified {
				id.Email, id.EmailVerified = strings.ToLower(strings.TrimSpace(e.Email)), true
			}
		}
	case errors.Is(err, ErrProviderUnavailable):
		return Identity{}, err
	}
	return id, nil
}

// get sends GET endpoint with the bearer token and decodes the JSON answer into out.
func (u *UserInfo) get(ctx context.Context, endpoint, token string, headers map[string]string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return u.send(req, headers, out)
}

// send sends req with headers and decodes the JSON answer into out: ErrProviderUnavailable for a
// network error, 5xx or 429, ErrInvalidToken for any other status than 200.
func (u *UserInfo) send(req *http.Request, headers map[string]string, out any) error {
	endpoint := req.URL.String()
	req.Header.Set("User-Agent", "latchkey-identity") // GitHub refuses requests without one
	req.Header.Set("Accept", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		// No URL holds a token (it is in a header or the body); still, keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w: %s: %w", ErrProviderUnavailable, redact(endpoint), err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w: status %d from %s", ErrProviderUnavailable, resp.StatusCode, redact(endpoint))
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%w: status %d from %s", ErrInvalidToken, resp.StatusCode, redact(endpoint))
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxUserInfoBytes))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%w: decode user-info: %w", ErrInvalidToken, err)
	}
	return nil
}

// redact is endpoint without its query (nothing secret is put there, but be sure).
func redact(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "user-info endpoint"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}
