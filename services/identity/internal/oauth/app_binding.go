package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// An access token proves who holds it, not that it was issued to Latchkey: any other app the person
// authorized holds a token for the same account. These checks bind the token to our own OAuth app,
// so a token obtained by a third-party app cannot sign in to Latchkey or link an account (token
// substitution).

// googleTokenInfo asks Google's tokeninfo endpoint about token and returns its subject when it was
// issued to one of the configured Google client ids (aud or azp) and has not expired. The token is
// sent in the POST body (Google accepts the form as well as ?access_token=), never in a URL.
func (u *UserInfo) googleTokenInfo(ctx context.Context, token string) (string, error) {
	form := url.Values{"access_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.cfg.GoogleTokenInfoURL, strings.NewReader(form))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var info struct {
		Aud       string `json:"aud"`
		Azp       string `json:"azp"`
		Sub       string `json:"sub"`
		ExpiresIn any    `json:"expires_in"` // Google sends a string ("3599")
	}
	if err := u.send(req, nil, &info); err != nil {
		return "", err
	}
	if !slices.Contains(u.cfg.GoogleClientIDs, info.Aud) && !slices.Contains(u.cfg.GoogleClientIDs, info.Azp) {
		return "", fmt.Errorf("%w: access token was issued to another OAuth client", ErrInvalidToken)
	}
	if info.Sub == "" || len(info.Sub) > 255 {
		return "", fmt.Errorf("%w: tokeninfo has no usable sub", ErrInvalidToken)
	}
	var secs int64
	switch v := info.ExpiresIn.(type) {
	case json.Number:
		secs, _ = v.Int64()
	case string:
		secs, _ = strconv.ParseInt(v, 10, 64)
	}
	if secs <= 0 {
		return "", fmt.Errorf("%w: access token expired", ErrInvalidToken)
	}
	return info.Sub, nil
}

// githubCheckToken asks GitHub's "check a token" API (POST /applications/{client_id}/token,
// authenticated as the OAuth app) whether token belongs to one of the configured apps, and returns
// the id of the user it was issued for. GitHub answers 404 (or 422) when the token is not the app's
// or the app's credentials are wrong: the token is refused.
func (u *UserInfo) githubCheckToken(ctx context.Context, base, token string) (int64, error) {
	body, err := json.Marshal(map[string]string{"access_token": token})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	for _, clientID := range u.cfg.GitHubClientIDs {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/applications/"+url.PathEscape(clientID)+"/token", bytes.NewReader(body))
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrProviderUnavailable, err)
		}
		req.SetBasicAuth(clientID, u.cfg.GitHubClientSecret.Value())
		req.Header.Set("Content-Type", "application/json")
		var check struct {
			App struct {
				ClientID string `json:"client_id"`
			} `json:"app"`
			User struct {
				ID json.Number `json:"id"`
			} `json:"user"`
		}
		switch err := u.send(req, githubHeaders, &check); {
		case errors.Is(err, ErrInvalidToken):
			continue // not this app's token (or not its credentials): try the next app
		case err != nil:
			return 0, err
		}
		if check.App.ClientID != "" && check.App.ClientID != clientID {
			return 0, fmt.Errorf("%w: token check names another app", ErrInvalidToken)
		}
		n, err := strconv.ParseInt(check.User.ID.String(), 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%w: token check has no usable user id", ErrInvalidToken)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: access token was not issued to a configured GitHub app", ErrInvalidToken)
}
