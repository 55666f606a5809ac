// Command profile serves the profile API (/api/v1/me, /api/v1/auth/me), keeps identity's facts from
// account.events.v1 and publishes profile.updated on profile.events.v1 through its outbox.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/lifecycle"
	profileconfig "github.com/latchkey/latchkey/services/profile/internal/config"
	"github.com/latchkey/latchkey/services/profile/internal/export"
	"github.com/latchkey/latchkey/services/profile/internal/httpapi"
	"github.com/latchkey/latchkey/services/profile/internal/identityclient"
	"github.com/latchkey/latchkey/services/profile/internal/profile"
	"github.com/latchkey/latchkey/services/profile/internal/store"
	"github.com/latchkey/latchkey/services/profile/internal/subscriber"
)

// republishInterval is how often profiles whose profile.updated did not reach the outbox are looked for.
const republishInterval = time.Minute

func main() {
	lifecycle.Main(profileconfig.Service, func(ctx context.Context, log *slog.Logger) error {
		return run(ctx, log, config.NewLoader())
	})
}

// run loads the configuration and runs the profile service on the shared runtime until ctx ends or
// a part of it fails (see package lifecycle for the start-up and shutdown order).
func run(ctx context.Context, log *slog.Logger, env *config.Loader) error {
	cfg, err := profileconfig.Load(env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return lifecycle.Run(ctx, log, cfg.Base, lifecycle.Options{
		Config: cfg, Outbox: true,
		Topics: []string{events.TopicAccountEvents, events.TopicSessionEvents, events.TopicProfileEvents, events.TopicAccountExports},
	}, func(ctx context.Context, rt *lifecycle.Runtime) error { return build(ctx, rt, cfg) })
}

// build adds what is the profile service's own to the runtime: its store, its domain, its routes and
// its workers.
func build(ctx context.Context, rt *lifecycle.Runtime, cfg profileconfig.Config) error {
	log := rt.Log
	profiles := store.NewProfiles(rt.DB)
	if err := profiles.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}

	tombstones := erasure.NewTombstones(rt.DB) // accounts erased on account.deleted
	svc := profile.NewService(erasureAwareProfiles{Profiles: profiles, tombstones: tombstones}, profile.Options{
		Wait: cfg.ProfileWait, Outbox: rt.Outbox, Logger: log,
		Phones: identityclient.New(cfg.IdentityInternalURL, cfg.InternalToken, nil),
		// A missing projection is read from identity (read-your-own-writes).
		Accounts: identityclient.New(cfg.IdentityInternalURL, cfg.InternalToken, nil),
	})
	verifier := authn.NewVerifier(authn.VerifierConfig{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: log,
		APIKeys:             authn.NewAPIKeyClient(cfg.IdentityInternalURL, cfg.InternalToken.Value(), nil),
		APIKeyRatePerMinute: cfg.APIKeyRatePerMinute,
		APIKeyLimitDB:       rt.DB, // every replica shares each key's budget
	})
	rt.Go("api key limits", verifier.ShareAPIKeyLimits)
	denyList := authn.NewDenyList()
	httpapi.Routes(rt.Public, authn.Middleware(verifier, denyList), httpapi.NewHandler(svc, log))
	// Identity delivers account events here before answering a change (read-your-own-writes).
	// account.deleted erases the profile; no later account event recreates it.
	accountEvents := subscriber.ErasingAccountEvents(svc, profiles, tombstones, log)
	httpapi.RegisterInternal(rt.Internal, httpx.RequireToken(cfg.InternalToken), accountEvents)

	// account.export_requested is answered with the profile part (package export).
	exporter := export.New(profiles, rt.Outbox, log)
	rt.Go("account events consumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, rt.Consumer("profile", events.TopicAccountEvents), exporter.Handle(accountEvents))
	})
	rt.Go("profile republisher", func(ctx context.Context) error {
		svc.RunRepublisher(ctx, republishInterval)
		return nil
	})
	rt.Go("deny-list follower", rt.FollowRevocations(denyList, authn.DefaultLookback))
	return nil
}
