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
)

// Production endpoints of the user-info APIs that prove an access token's owner.
const (
	// DefaultGoogleUserinfoURL is Google's OpenID Connect user-info endpoint.
	DefaultGoogleUserinfoURL = "https://openidconnect.googleapis.com/v1/userinfo"
	// DefaultGitHubAPIURL is the base URL of GitHub's REST API (GET /user, GET /user/emails).
	DefaultGitHubAPIURL = "https://api.github.com"
	maxAccessToken      = 4096
	maxUserInfoBytes    = 1 << 20
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
// tokens (those with a registered client: OAUTH_<P>_CLIENT_IDS set).
type UserInfoConfig struct {
	GoogleUserinfoURL string // DefaultGoogleUserinfoURL in production
	GitHubAPIURL      string // DefaultGitHubAPIURL in production
	Enabled           []string
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
	if err := u.get(ctx, u.cfg.GoogleUserinfoURL, token, nil, &info); err != nil {
		return Identity{}, err
	}
	if info.Sub == "" || len(info.Sub) > 255 {
		return Identity{}, fmt.Errorf("%w: user-info has no usable sub", ErrInvalidToken)
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
	req.Header.Set("User-Agent", "latchkey-identity") // GitHub refuses requests without one
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		// The URL holds no token (it is in the header), so the error may be wrapped as is.
		return fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
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
