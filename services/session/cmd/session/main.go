// Command session serves sessions and tokens: the internal APIs that start and end sessions, token
// refresh, logout, the session endpoints of the account API and the AudioPod paths, and the JWKS every
// service verifies access tokens with.
package main

import (
	"context"
	"fmt"
	"log/slog"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/latchkey/latchkey/libs/platform/apispec"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/lifecycle"
	"github.com/latchkey/latchkey/services/session/internal/account"
	sessionconfig "github.com/latchkey/latchkey/services/session/internal/config"
	"github.com/latchkey/latchkey/services/session/internal/export"
	"github.com/latchkey/latchkey/services/session/internal/httpapi"
	"github.com/latchkey/latchkey/services/session/internal/identityclient"
	"github.com/latchkey/latchkey/services/session/internal/session"
	"github.com/latchkey/latchkey/services/session/internal/store"
	"github.com/latchkey/latchkey/services/session/internal/token"
)

func main() {
	lifecycle.Main(sessionconfig.Service, func(ctx context.Context, log *slog.Logger) error {
		return run(ctx, log, config.NewLoader())
	})
}

// run loads the configuration and runs the session service on the shared runtime until ctx ends or
// a part of it fails (see package lifecycle for the start-up and shutdown order).
func run(ctx context.Context, log *slog.Logger, env *config.Loader) error {
	cfg, err := sessionconfig.Load(env)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return lifecycle.Run(ctx, log, cfg.Base, lifecycle.Options{
		Config: cfg, Outbox: true, LocationHeader: cfg.LocationHeader,
		Topics: []string{events.TopicSessionEvents, events.TopicAccountEvents, events.TopicProfileEvents, events.TopicActivity, events.TopicAccountExports},
	}, func(ctx context.Context, rt *lifecycle.Runtime) error { return build(ctx, rt, cfg) })
}

// build adds what is the session service's own to the runtime: its stores, its signing keys, its
// domain, its routes and its workers. Every event goes through the runtime's outbox.
func build(ctx context.Context, rt *lifecycle.Runtime, cfg sessionconfig.Config) error {
	log := rt.Log
	sessions := store.NewSessions(rt.DB)
	if err := sessions.EnsureIndexes(ctx); err != nil {
		return fmt.Errorf("mongodb indexes: %w", err)
	}
	accounts := account.NewDirectory(store.NewAccounts(rt.DB), log)

	keys, err := loadKeyring(ctx, cfg, rt.DB)
	if err != nil {
		return err
	}
	log.Info("signing key loaded", "kid", keys.Signer().ID, "from_file", cfg.SigningKeyFile != "", "published_keys", len(keys.JWKS().Keys))

	denyList := authn.NewDenyList()
	issuer := token.NewIssuer(keys, token.IssuerConfig{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.AccessTokenTTL})
	reauth := identityclient.New(cfg.IdentityInternalURL, cfg.InternalToken, nil)
	svc := session.NewService(sessions, issuer, rt.Outbox, denyList, session.Options{
		AccessTokenTTL: cfg.AccessTokenTTL, IdleTTL: cfg.SessionIdleTTL, AbsoluteTTL: cfg.SessionAbsoluteTTL,
		TouchInterval: cfg.TouchInterval, RefreshWindow: cfg.RefreshWindow, RefreshGrace: cfg.RefreshGrace, Reauth: reauth, APIKeys: reauth, Logger: log,
	})
	// The session service verifies its own tokens against its keyring, not over HTTP from itself.
	verifier := authn.NewVerifier(authn.VerifierConfig{
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Logger: log, Source: keys.Source,
		APIKeys:             authn.NewAPIKeyClient(cfg.IdentityInternalURL, cfg.InternalToken.Value(), nil),
		APIKeyRatePerMinute: cfg.APIKeyRatePerMinute,
		APIKeyLimitDB:       rt.DB, // every replica shares each key's budget
	})
	rt.Go("api key limits", verifier.ShareAPIKeyLimits)
	// The API description at /openapi.json and /docs, when API_DOCS_ENABLED.
	var apiDoc func() []byte
	if cfg.APIDocsEnabled {
		apiDoc = apispec.JSON
	}
	httpapi.Routes(rt.Public, rt.Internal, httpapi.NewHandler(svc, keys.JWKSJSON, log, httpapi.Config{Accounts: accounts, Issuer: cfg.JWTIssuer, APIDoc: apiDoc}),
		authn.Middleware(verifier, denyList), httpx.RequireToken(cfg.InternalToken))

	// The account facts validate shows: identity's account events and profile's profile events. One
	// consumer group per topic, so a rebalance of one never pauses the other.
	// Both pass the erasure guard: account.deleted erases the account, and no later event brings it back.
	// account.export_requested on account.events.v1 is answered with the session part (package export).
	tombstones, erase := erasure.NewTombstones(rt.DB), accountEraser(sessions, store.NewAccounts(rt.DB))
	exporter := export.New(sessions, store.NewAccounts(rt.DB), rt.Outbox, log)
	for _, topic := range []string{events.TopicAccountEvents, events.TopicProfileEvents} {
		handle := erasure.Guard(tombstones, erase, accounts.Apply)
		if topic == events.TopicAccountEvents {
			handle = erasure.Guard(tombstones, erase, exporter.Handle(accounts.Apply))
		}
		rt.Go(topic+" consumer", func(ctx context.Context) error {
			return kafkax.RunConsumer(ctx, rt.Consumer(cfg.Service+"."+topic, topic), handle)
		})
	}
	rt.Go("deny-list follower", rt.FollowRevocations(denyList, cfg.AccessTokenTTL+authn.Leeway))
	return nil
}

// loadKeyring reads the signing key from JWT_SIGNING_KEY_FILE plus the verification-only keys of
// JWT_VERIFICATION_KEY_FILES, or the keys in MongoDB (creating the first on the first start) when no
// file is configured.
func loadKeyring(ctx context.Context, cfg sessionconfig.Config, db *mongo.Database) (*token.Keyring, error) {
	if cfg.SigningKeyFile != "" {
		key, err := token.LoadPEM(cfg.SigningKeyFile)
		if err != nil {
			return nil, fmt.Errorf("JWT_SIGNING_KEY_FILE: %w", err)
		}
		verification, err := token.LoadVerificationKeys(cfg.VerificationKeyFiles)
		if err != nil {
			return nil, fmt.Errorf("JWT_VERIFICATION_KEY_FILES: %w", err)
		}
		return token.NewKeyringWithSigner(key, verification...)
	}
	keys, err := token.LoadKeyring(ctx, store.NewSigningKeys(db))
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	return keys, nil
}
