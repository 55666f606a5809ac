package apikey

import (
	"context"
	"fmt"
)

// ReasonNotMe is the api_key.revoked reason of keys revoked because the owner reported the session
// they were created in as not theirs.
const ReasonNotMe = "not_me"

// RevokeCreatedInSession revokes every live key of the account created in session sessionID, each
// through the ordinary revocation (its api_key.revoked event first, so every service's deny-list
// refuses it), and returns how many it revoked. It is idempotent: revoked keys are not live any more.
func (s *Service) RevokeCreatedInSession(ctx context.Context, accountID, sessionID, reason string) (int, error) {
	if sessionID == "" {
		return 0, nil
	}
	keys, err := s.keys.List(ctx, accountID)
	if err != nil {
		return 0, fmt.Errorf("list api keys of %s: %w", accountID, err)
	}
	n := 0
	for _, k := range keys {
		if k.CreatedInSession != sessionID {
			continue
		}
		switch err := s.RevokeWithReason(ctx, accountID, k.ID, reason); {
		case err == nil:
			n++
		case err == ErrNotFound: // revoked concurrently
		default:
			return n, err
		}
	}
	return n, nil
}

// AlertLinks adds the "this wasn't me" link to a security alert's details (auth.Service).
type AlertLinks interface {
	AddNotMeLink(ctx context.Context, accountID, kind string, details map[string]string)
}

// SetAlertLinks makes the api_key_created alert carry the "this wasn't me" link.
func (s *Service) SetAlertLinks(l AlertLinks) { s.links = l }
