package main

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
)

// erasureAwareProfiles is the profile store that creates no profile for an erased account: GET and
// PATCH /api/v1/me create a missing profile, and an access token of an erased account may still be
// honoured for the moment before its revocation reaches this service. Such a request answers 404.
type erasureAwareProfiles struct {
	*store.Profiles
	tombstones *erasure.Tombstones
}

func (s erasureAwareProfiles) refuseErased(ctx context.Context, accountID string) error {
	erased, err := s.tombstones.Erased(ctx, accountID)
	if err != nil {
		return fmt.Errorf("%w: %w", profile.ErrUnavailable, err)
	}
	if erased {
		return profile.ErrNotFound
	}
	return nil
}

// Insert refuses erased accounts (profile.ErrNotFound), else stores p.
func (s erasureAwareProfiles) Insert(ctx context.Context, p profile.Profile) error {
	if err := s.refuseErased(ctx, p.AccountID); err != nil {
		return err
	}
	return s.Profiles.Insert(ctx, p)
}

// Ensure refuses erased accounts (profile.ErrNotFound), else returns or creates the profile.
func (s erasureAwareProfiles) Ensure(ctx context.Context, accountID string, now time.Time) (profile.Profile, error) {
	if err := s.refuseErased(ctx, accountID); err != nil {
		return profile.Profile{}, err
	}
	return s.Profiles.Ensure(ctx, accountID, now)
}
