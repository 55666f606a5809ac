package main

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/lifecycle"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/config"
	"github.com/latchkey/latchkey/services/identity/internal/export"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/recovery"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
)

// exportGroup is the consumer group storing the other services' export parts.
const exportGroup = "identity-exports"

// buildExports adds account data exports: the two routes, the consumer of account.exports.v1 that
// completes them, and the worker deleting expired ones. activityLog is the activity log the export
// includes (nil leaves it out).
func buildExports(ctx context.Context, rt *lifecycle.Runtime, cfg config.Config, svc *auth.Service, limiter *throttle.Limiter, requireAuth fiber.Handler, activityLog activity.Reader) error {
	db := rt.DB
	exportStore := store.NewExports(db)
	if err := exportStore.EnsureIndexes(ctx); err != nil {
		return err
	}
	exports := export.NewService(export.Config{TTL: cfg.Export.TTL, Interval: cfg.Export.Interval}, export.Deps{
		Store: exportStore, Limiter: limiter, Outbox: rt.Outbox, Activity: svc, Accounts: store.NewAccounts(db), Logger: rt.Log,
		Sources: export.Sources{
			Devices: store.NewDevices(db), Providers: store.NewProviders(db), Passkeys: store.NewPasskeys(db),
			Authenticators: store.NewAuthenticators(db), APIKeys: store.NewAPIKeys(db), Usernames: store.NewUsernames(db),
			RecoveryCodes: recovery.New(recovery.KeyFrom(cfg.OTPPepper.Value()), store.NewRecoveryCodes(db)),
			Activity:      activityLog,
		},
	})
	httpapi.RegisterExports(rt.Public, requireAuth, svc, exports, rt.Log)
	rt.Go("account exports consumer", func(ctx context.Context) error {
		// Behind the erasure guard: a part arriving for an erased account is dropped.
		return kafkax.RunConsumer(ctx, rt.Consumer(exportGroup, events.TopicAccountExports),
			erasure.Guard(erasure.NewTombstones(db), eraseWith(exportStore), exports.Collect))
	})
	rt.Go("export cleanup", func(ctx context.Context) error {
		exports.RunCleanup(ctx)
		return nil
	})
	return nil
}
