package httpapi

import (
	"errors"
	"strings"

	"github.com/latchkey/latchkey/libs/platform/wire"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
)

// Limits and messages of the provider proofs (AudioPod's account-providers body and provider sign-in).
const (
	maxAccessToken       = 4096
	maxProviderAccountID = 255
	maxScope             = 1024
	msgInvalidAccess     = "Invalid access token"
	msgAccountMismatch   = "provider_account_id does not match the provider account of the token"
)

// providerProofRequest is a provider proof as the AudioPod account page sends it ({provider,
// provider_account_id, type: "oauth", access_token, refresh_token, expires_at, scope}) or as an ID
// token ({provider, id_token, nonce}). Latchkey never stores the provider's tokens: refresh_token,
// expires_at and scope are accepted and dropped.
type providerProofRequest struct {
	IDToken           string `json:"id_token"`
	Nonce             string `json:"nonce"`
	ProviderAccountID string `json:"provider_account_id"`
	Type              string `json:"type"`
	AccessToken       string `json:"access_token"`
	RefreshToken      string `json:"refresh_token"`
	ExpiresAt         any    `json:"expires_at"` // seconds since the epoch (or null); unused
	Scope             string `json:"scope"`
}

// check validates the proof's fields: one of id_token and access_token. With an access token,
// needAccountID makes provider_account_id required (linking: it is what the token must prove); a
// sign-in may leave it out (when given it must match all the same).
func (r providerProofRequest) check(v *wire.Checker, needAccountID bool) auth.ProviderProof {
	p := auth.ProviderProof{
		IDToken: strings.TrimSpace(r.IDToken), Nonce: r.Nonce,
		AccessToken: strings.TrimSpace(r.AccessToken), AccountID: strings.TrimSpace(r.ProviderAccountID),
	}
	switch {
	case p.IDToken != "":
		v.MaxLen("id_token", r.IDToken, maxIDToken)
	case p.AccessToken != "":
		v.MaxLen("access_token", r.AccessToken, maxAccessToken)
		if needAccountID {
			v.Required("provider_account_id", p.AccountID)
		}
	default:
		v.Fail("access_token", "Field required: send access_token (with provider_account_id) or id_token", "missing")
	}
	v.MaxLen("nonce", r.Nonce, maxNonce)
	v.MaxLen("provider_account_id", r.ProviderAccountID, maxProviderAccountID)
	v.PlainText("provider_account_id", r.ProviderAccountID)
	v.MaxLen("refresh_token", r.RefreshToken, maxAccessToken)
	v.MaxLen("scope", r.Scope, maxScope)
	if r.Type != "" {
		v.Check(r.Type == "oauth", "type", "Input should be 'oauth'", "literal_error")
	}
	switch r.ExpiresAt.(type) {
	case nil, float64, string:
	default:
		v.Fail("expires_at", "Input should be a valid integer", "int_type")
	}
	return p
}

// proofFailure maps the proof's own errors (status is 400 when linking, 401 when signing in); nil
// for other errors.
func proofFailure(err error, p auth.ProviderProof, status int) error {
	refuse := wire.BadRequest
	if status == 401 {
		refuse = wire.Unauthorized
	}
	switch {
	case errors.Is(err, auth.ErrProviderAccountMismatch):
		return refuse(msgAccountMismatch)
	case errors.Is(err, oauth.ErrAccessTokenUnsupported):
		return wire.BadRequest("This provider accepts an id_token only")
	case errors.Is(err, oauth.ErrProviderUnavailable):
		return &unavailableError{err}
	case errors.Is(err, oauth.ErrInvalidToken) && p.IDToken == "":
		return refuse(msgInvalidAccess)
	case errors.Is(err, oauth.ErrInvalidToken) && status == 401:
		return refuse(msgInvalidIDToken)
	}
	return nil
}
