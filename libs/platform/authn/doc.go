// Package authn verifies Latchkey access tokens and keeps the revocation deny-list, so every service can
// authenticate a request on its own, without a network call per request.
//
// Access tokens are EdDSA (Ed25519) JWTs signed by the session service, which publishes its public keys
// as a JWKS. A Verifier fetches that JWKS lazily, caches the parsed keys and refreshes them when a token
// names an unknown kid (at most once per RefetchInterval) and periodically in the background. Only EdDSA
// is accepted: "alg: none", HMAC with the public key as the secret (key confusion) and every other
// algorithm are refused before any key is looked at.
//
// A token is valid until its exp even after its session ends, so the session service publishes
// session.revoked events; a DenyList follows them (Follow) and Middleware refuses tokens of a denied
// session.
//
// Middleware also accepts API keys (Authorization: Bearer lk_... or X-API-Key), when the Verifier is
// given an APIKeyLookup: the key's format and checksum are checked locally, identity's answer is
// cached briefly, and the DenyList, which also follows account.events.v1, refuses revoked keys and the
// keys of deactivated accounts at once. What a key may do is declared per route where the service
// registers it (SignedInOnly, KeysMayWrite; by default safe methods only), within the key's read and
// write scopes, with a per-key rate limit that the replicas of a service share through MongoDB when
// VerifierConfig.APIKeyLimitDB is set (counted in the background: no round trip per request; see
// ShareAPIKeyLimits).
//
// An access token also says how its session was signed in: Principal.AMR (RFC 8176 method references
// such as pwd, otp, sms, hwk, swk, mfa), Principal.ACR (ACRSingleFactor, ACRMultiFactor,
// ACRHardwareKey) and Principal.AuthTime (the sign-in; refreshes keep it). An operation that needs a
// recent strong sign-in puts RequireAssurance after Middleware where its route is registered:
//
//	app.Post("/api/v1/things/:id/transfer", requireAuth,
//		authn.RequireAssurance(authn.Assurance{MinACR: authn.ACRMultiFactor, MaxAge: 15 * time.Minute}),
//		h.transfer)
//
// A token that falls short is answered 401 with the step-up challenge of RFC 9470
// (WWW-Authenticate: Bearer error="insufficient_user_authentication", acr_values, max_age), in the
// path's wire style; an API key, which proves no sign-in, 403. CheckAssurance is the same check inside
// a handler.
package authn
