// Package captcha verifies CAPTCHA tokens server-side. Cloudflare Turnstile, hCaptcha and Google
// reCAPTCHA share one "siteverify" protocol: a form POST of secret, response (the token) and
// remoteip, answered with JSON {"success": bool, ...}. One client speaks it; the provider is only its
// URL.
package captcha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Providers' siteverify URLs, selected by name in the configuration.
var Providers = map[string]string{
	"turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
	"hcaptcha":  "https://api.hcaptcha.com/siteverify",
	"recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}

// maxToken bounds the token sent on (providers' tokens are a few kB at most).
const maxToken = 4096

// ErrUnavailable: the provider could not be asked or gave no usable answer.
var ErrUnavailable = errors.New("captcha provider unavailable")

// SiteVerify is a siteverify client.
type SiteVerify struct {
	url    string
	secret string
	http   *http.Client
}

// NewSiteVerify returns a client of the siteverify endpoint at verifyURL with the site's secret.
// client may be nil (a client with a 5 s timeout is used).
func NewSiteVerify(verifyURL, secret string, client *http.Client) *SiteVerify {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &SiteVerify{url: verifyURL, secret: secret, http: client}
}

// Verify reports whether token is a valid answer for a client at remoteIP. An empty or oversized
// token is invalid without asking; ErrUnavailable when the provider cannot tell.
func (v *SiteVerify) Verify(ctx context.Context, token, remoteIP string) (bool, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxToken {
		return false, nil
	}
	form := url.Values{"secret": {v.secret}, "response": {token}}
	if remoteIP != "" {
		form.Set("remoteip", remoteIP)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := v.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode)
	}
	var body struct {
		Success bool `json:"success"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil {
		return false, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return body.Success, nil
}
