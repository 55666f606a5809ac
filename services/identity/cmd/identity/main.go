// Command identity runs the identity service: accounts, credentials, OTP challenges, registration,
// login and trusted devices (see docs/architecture.md for its ports, configuration and events).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/erasure"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/httpx"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
	"github.com/latchkey/latchkey/libs/platform/lifecycle"
	"github.com/latchkey/latchkey/services/identity/internal/activity"
	"github.com/latchkey/latchkey/services/identity/internal/admin"
	"github.com/latchkey/latchkey/services/identity/internal/apikey"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
	"github.com/latchkey/latchkey/services/identity/internal/captcha"
	"github.com/latchkey/latchkey/services/identity/internal/config"
	"github.com/latchkey/latchkey/services/identity/internal/httpapi"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/otp"
	"github.com/latchkey/latchkey/services/identity/internal/passkey"
	"github.com/latchkey/latchkey/services/identity/internal/password"
	"github.com/latchkey/latchkey/services/identity/internal/phone"
	"github.com/latchkey/latchkey/services/identity/internal/profileclient"
	"github.com/latchkey/latchkey/services/identity/internal/recovery"
	"github.com/latchkey/latchkey/services/identity/internal/sessionclient"
	"github.com/latchkey/latchkey/services/identity/internal/store"
	"github.com/latchkey/latchkey/services/identity/internal/subscriber"
	"github.com/latchkey/latchkey/services/identity/internal/throttle"
	"github.com/latchkey/latchkey/services/identity/internal/totp"
	"github.com/latchkey/latchkey/services/identity/internal/username"
)

// republishInterval is how often accounts whose account.created event did not reach the outbox are
// looked for.
const republishInterval = time.Minute

// activityCleanupInterval is how often activity entries past the retention are deleted (servers
// without TTL indexes keep them otherwise; on MongoDB the TTL index does it too).
const activityCleanupInterval = time.Hour

func main() {
	// `identity admin grant|revoke ...`: the operator command, which grants the admin API's roles.
	if len(os.Args) > 1 && os.Args[1] == "admin" {
		os.Exit(runAdminCommand(context.Background(), os.Args[2:], platformconfig.NewLoader(), os.Stdout, os.Stderr))
	}
	lifecycle.Main(config.Service, func(ctx context.Context, log *slog.Logger) error {
		return run(ctx, log, platformconfig.NewLoader())
	})
}

// run loads the configuration and runs the identity service on the shared runtime until ctx ends or
// a part of it fails (see package lifecycle for the start-up and shutdown order).
func run(ctx context.Context, log *slog.Logger, env *platformconfig.Loader) error {
	cfg, err := config.Load(env)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	return lifecycle.Run(ctx, log, cfg.Base, lifecycle.Options{
		Config: cfg, Outbox: true, LocationHeader: cfg.LocationHeader,
		Topics: []string{events.TopicOTPDispatch, events.TopicAccountEvents, events.TopicProfileEvents, events.TopicActivity, events.TopicAccountExports},
		// Not fatal: requests are accepted into the outbox while Kafka is away, and the relay
		// publishes once it is back.
		TopicsBestEffort: true,
	}, func(ctx context.Context, rt *lifecycle.Runtime) error { return build(ctx, rt, cfg) })
}

// build adds what is the identity service's own to the runtime: its stores and indexes, its domain,
// its public and internal routes and its workers.
func build(ctx context.Context, rt *lifecycle.Runtime, cfg config.Config) error {
	log, db, outbox := rt.Log, rt.DB, rt.Outbox
	if cfg.PepperGenerated {
		log.Warn("OTP_PEPPER is not set: using a random pepper for this process; codes, device tokens and recovery codes will not survive a restart or work across replicas")
	}
	if cfg.UserInfo.GitHubSecretMissing {
		log.Warn("OAUTH_GITHUB_CLIENT_IDS is set but OAUTH_GITHUB_CLIENT_SECRET is not: GitHub access tokens are refused (they cannot be checked against the app)")
	}
	if err := store.EnsureIndexes(ctx, db); err != nil {
		return err
	}
	if err := store.EnsureUsernameIndexes(ctx, db); err != nil {
		return err
	}

	if err := password.SetPolicy(cfg.PasswordPolicy); err != nil {
		return err
	}
	hasher, err := password.NewBoundedHasher(cfg.Argon2, cfg.Hashing)
	if err != nil {
		return err
	}
	limiter := throttle.New(store.NewCounters(db))
	codes := otp.NewService(cfg.OTP, otp.Pepper(cfg.OTPPepper.Value()), store.NewChallenges(db), limiter, outbox)
	usernames := store.NewUsernames(db)
	svc := auth.NewService(auth.Config{
		LoginPerIP: cfg.LoginPerIP, LoginFailuresPerAccount: cfg.LoginFailuresPerAccount,
		CodeVerifyPerIP: cfg.CodeVerifyPerIP, CodeFailuresPerAccount: cfg.CodeFailuresPerAccount, CodeSendPerIP: cfg.CodeSendPerIP,
		PasskeyBeginsPerIP: cfg.PasskeyBeginsPerIP,
		StepUpTTL:          cfg.ReauthTokenTTL, EmailRevertPeriod: cfg.EmailRevertPeriod, EmailRevertURL: cfg.EmailRevertURL,
		LoginBackoff: cfg.Throttle.LoginBackoff, AllowIPs: cfg.Throttle.AllowIPs, Registration: cfg.Throttle.Registration,
	}, auth.Deps{
		Accounts: store.NewAccounts(db),
		Devices:  store.NewDevices(db),
		Codes:    codes,
		Hasher:   hasher,
		Limiter:  limiter,
		Sessions: sessionclient.New(cfg.SessionInternalURL, cfg.InternalToken, nil),
		Outbox:   outbox,
		Logger:   log,
		// Provider linking and sign-in; ID tokens are checked against each provider's JWKS.
		Providers: store.NewProviders(db),
		IDTokens:  oauth.NewVerifier(cfg.OAuth, &http.Client{Timeout: 5 * time.Second}),
		// Access tokens (Google, GitHub) are proven at the provider's user-info endpoint.
		AccessTokens: oauth.NewUserInfo(cfg.UserInfo, &http.Client{Timeout: 5 * time.Second}),
		// Step-up tokens (X-Reauth-Token) and the links undoing an e-mail change.
		StepUps: store.NewStepUps(db),
		// Recovery codes, stored as HMACs under a key derived from OTP_PEPPER (so it must be stable:
		// with a random pepper the codes die with the process, like device tokens).
		RecoveryCodes: recovery.New(recovery.KeyFrom(cfg.OTPPepper.Value()), store.NewRecoveryCodes(db)),
		// Authenticator apps (TOTP), their secrets sealed with TOTP_ENCRYPTION_KEYS.
		Authenticators: totp.New(store.NewAuthenticators(db), cfg.TOTP.Keys, cfg.TOTP.Issuer),
	})
	svc.Reservations = usernames // registration stays off usernames reserved for their old owner
	// Account events reach the profile projection before a change is answered (read-your-own-writes).
	svc.Projections = profileclient.New(cfg.ProfileInternalURL, cfg.InternalToken, nil)
	// New passwords that appeared in a data breach are refused (the Pwned Passwords range API, or the
	// offline list alone when BREACHED_PASSWORDS_ONLINE=false or while the API cannot be reached).
	svc.BreachedPasswords = password.NewBreachChecker(cfg.BreachedPasswords, &http.Client{}, log)
	if cfg.Throttle.CaptchaEnabled() {
		svc.Captcha = captcha.NewSiteVerify(cfg.Throttle.CaptchaVerifyURL, cfg.Throttle.CaptchaSecret.Value(), nil)
	}

	keys := apikey.NewService(apikey.Config{
		Prefix: cfg.APIKeyPrefix, DefaultLifetime: cfg.APIKeyDefaultTTL, MaxLifetime: cfg.APIKeyMaxTTL,
	}, store.NewAPIKeys(db), store.NewAccounts(db), outbox, log)
	svc.APIKeys = keys    // password reset, deactivation and sign-out-all revoke every key
	keys.SetActivity(svc) // keys created, first used and revoked are in the owner's activity log
	// The owner's activity log: every service's activity events, kept ACTIVITY_RETENTION.
	activityLog := activity.NewStore(db, cfg.ActivityRetention)
	if err := activityLog.EnsureIndexes(ctx); err != nil {
		return err
	}
	// "This wasn't me": reports of activity entries and the one-time links of security alerts.
	notMe := store.NewNotMe(db)
	if err := notMe.EnsureIndexes(ctx); err != nil {
		return err
	}
	svc.EnableNotMe(auth.NotMeDeps{
		Config: auth.NotMeConfig{LinkURL: cfg.NotMe.URL, LinkTTL: cfg.NotMe.LinkTTL},
		Store:  notMe, Keys: keys,
		Sessions: sessionclient.New(cfg.SessionInternalURL, cfg.InternalToken, nil),
		Reader:   activityLog, Marker: notMeMarker{activityLog},
	})
	keys.SetAlertLinks(svc) // api_key_created alerts carry the link too
	// Account deletion: scheduled by DELETE /api/v1/account, carried out by the deletion worker below.
	deletions := store.NewDeletions(db)
	if err := deletions.EnsureIndexes(ctx); err != nil {
		return err
	}
	svc.Deletion = auth.Deletion{Store: deletions, Grace: cfg.Deletion.Grace, UsernameReservation: cfg.Usernames.Reservation,
		Tombstones: erasure.NewTombstones(db), Erasers: accountErasers(activityLog, store.NewExports(db), notMe)}
	verifier := authn.NewVerifier(authn.VerifierConfig{
		JWKSURL: cfg.JWKSURL, Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: log,
		APIKeys: keys.Verify, APIKeyRatePerMinute: cfg.APIKeyRatePerMinute, // identity checks keys in process
		APIKeyLimitDB: db, // every replica shares each key's budget
	})
	rt.Go("api key limits", verifier.ShareAPIKeyLimits)
	denyList := authn.NewDenyList()
	keys.DenyLocally(denyList)
	// The admin API (/api/v1/admin/...): operators are accounts holding ROLE_ADMIN or ROLE_SUPPORT,
	// granted with `identity admin grant`. Deletion is offered once auth.Service can schedule it.
	adminDeps := admin.Deps{
		Auth: svc, Accounts: store.NewAccounts(db), Devices: store.NewDevices(db), Providers: store.NewProviders(db), APIKeys: keys,
		Sessions:       sessionclient.New(cfg.SessionInternalURL, cfg.InternalToken, nil),
		Authenticators: totp.New(store.NewAuthenticators(db), cfg.TOTP.Keys, cfg.TOTP.Issuer),
		RecoveryCodes:  recovery.New(recovery.KeyFrom(cfg.OTPPepper.Value()), store.NewRecoveryCodes(db)),
		Deny:           denyList, // a lock refuses the account's keys here at once
		Activity:       activityLog,
		Logger:         log,
	}
	if d, ok := any(svc).(admin.Deletions); ok {
		adminDeps.Deletions = d
	}

	httpapi.Register(rt.Public, authn.Middleware(verifier, denyList), svc, keys, log)
	// Passkeys (WebAuthn): second factor, step-up and passwordless sign-in; off without WEBAUTHN_RP_ID.
	if cfg.WebAuthn.Enabled() {
		passkeyStore := store.NewPasskeys(db)
		if err := passkeyStore.EnsureIndexes(ctx); err != nil {
			return err
		}
		passkeys, err := passkey.NewService(cfg.WebAuthn, passkeyStore, store.NewAccounts(db), log)
		if err != nil {
			return fmt.Errorf("passkeys: %w", err)
		}
		passkeys.SetAlerts(svc) // every passkey added or removed is told to the owner
		svc.Passkeys = passkeys
		adminDeps.Passkeys = passkeyStore
		httpapi.RegisterPasskeys(rt.Public, authn.Middleware(verifier, denyList), svc, passkeys, log)
	}
	httpapi.RegisterUsernames(rt.Public, authn.Middleware(verifier, denyList),
		httpapi.LimitPerIP(limiter, httpapi.ScopeUsernameLookupIP, cfg.UsernameLookupsPerIP, cfg.Throttle.AllowIPs),
		username.NewService(cfg.Usernames, usernames, svc, log))
	httpapi.RegisterAdmin(rt.Public, authn.Middleware(verifier, denyList), svc, admin.NewService(adminDeps), log)
	internal, guard := rt.Internal, httpx.RequireToken(cfg.InternalToken)
	httpapi.RegisterInternal(internal, guard, keys)
	httpapi.RegisterReauthentication(internal, guard, svc)
	// Phone changes through the profile paths share the code-sending budgets: each one is a step
	// towards a code to a new number.
	phones := phone.NewService(usernames.Accounts, svc).WithLimits(phone.Limits{Limiter: limiter,
		PerAccount: throttle.Limit{Max: cfg.OTP.MaxPerAccountPerHour, Window: time.Hour}, PerIP: cfg.CodeSendPerIP})
	httpapi.RegisterPhoneInternal(internal, guard, phones)
	httpapi.RegisterSnapshotInternal(internal, guard, store.NewAccounts(db))

	httpapi.RegisterActivity(rt.Public, authn.Middleware(verifier, denyList), activityLog)
	rt.Go("activity consumer", func(ctx context.Context) error {
		// Behind the erasure guard: an entry of an erased account (a late session_ended, say) is not kept.
		return kafkax.RunConsumer(ctx, rt.Consumer(activity.ConsumerGroup, events.TopicActivity),
			erasure.Guard(erasure.NewTombstones(db), eraseWith(activityLog), activity.Handler(activityLog, log)))
	})
	rt.Go("activity cleanup", func(ctx context.Context) error {
		activityLog.RunCleanup(ctx, activityCleanupInterval, func(deleted int, err error) {
			if err != nil {
				log.WarnContext(ctx, "activity cleanup", "err", err)
			} else if deleted > 0 {
				log.InfoContext(ctx, "activity past the retention deleted", "entries", deleted)
			}
		})
		return nil
	})
	// Account data exports, with the activity log in identity's part.
	if err := buildExports(ctx, rt, cfg, svc, limiter, authn.Middleware(verifier, denyList), activityLog); err != nil {
		return err
	}

	rt.Go("account republisher", func(ctx context.Context) error {
		svc.RunRepublisher(ctx, republishInterval)
		return nil
	})
	// profile.updated → the profile projection that username search and lookup read.
	rt.Go("profile events consumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, rt.Consumer(config.Service, events.TopicProfileEvents), subscriber.ProfileEvents(usernames, log))
	})
	// Accounts whose deletion grace period has ended: account.deleted, then identity's erasure.
	rt.Go("account deletion worker", func(ctx context.Context) error {
		svc.RunDeletions(ctx, cfg.Deletion.CheckInterval)
		return nil
	})
	// Access tokens of revoked sessions are refused from the moment the revocation is read.
	rt.Go("deny-list follower", rt.FollowRevocations(denyList, authn.DefaultLookback))
	return nil
}
