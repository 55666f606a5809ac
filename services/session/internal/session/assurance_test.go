package session_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/authn/authntest"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/session/internal/session"
)

func TestNormalizeAssurance(t *testing.T) {
	now := time.Date(2026, 5, 19, 10, 30, 45, 500_000_000, time.UTC)
	sec := now.Truncate(time.Second)
	tests := []struct {
		name    string
		in      session.Assurance
		want    session.Assurance
		wantErr error
	}{
		{name: "password", in: session.Assurance{AMR: []string{"pwd"}, ACR: "aal1", AuthTime: sec.Add(-time.Second)},
			want: session.Assurance{AMR: []string{"pwd"}, ACR: "aal1", AuthTime: sec.Add(-time.Second)}},
		{name: "two factors", in: session.Assurance{AMR: []string{"pwd", "otp", "mfa"}, ACR: "aal2", AuthTime: sec},
			want: session.Assurance{AMR: []string{"pwd", "otp", "mfa"}, ACR: "aal2", AuthTime: sec}},
		{name: "hardware key", in: session.Assurance{AMR: []string{"hwk", "user", "mfa"}, ACR: "aal3", AuthTime: sec},
			want: session.Assurance{AMR: []string{"hwk", "user", "mfa"}, ACR: "aal3", AuthTime: sec}},
		{name: "nothing reported", in: session.Assurance{}, want: session.Assurance{ACR: "aal1", AuthTime: sec}},
		{name: "duplicates dropped", in: session.Assurance{AMR: []string{"pwd", "sms", "pwd", "mfa", "sms"}, ACR: "aal2", AuthTime: sec},
			want: session.Assurance{AMR: []string{"pwd", "sms", "mfa"}, ACR: "aal2", AuthTime: sec}},
		{name: "slightly ahead read as now", in: session.Assurance{AMR: []string{"fed"}, AuthTime: now.Add(10 * time.Second)},
			want: session.Assurance{AMR: []string{"fed"}, ACR: "aal1", AuthTime: sec}},
		{name: "unknown amr", in: session.Assurance{AMR: []string{"pwd", "face"}}, wantErr: session.ErrUnknownAMR},
		{name: "amr in capitals", in: session.Assurance{AMR: []string{"PWD"}}, wantErr: session.ErrUnknownAMR},
		{name: "too many amr", in: session.Assurance{AMR: slices.Repeat([]string{"pwd"}, session.MaxAMR+1)}, wantErr: session.ErrTooManyAMR},
		{name: "unknown acr", in: session.Assurance{AMR: []string{"pwd"}, ACR: "aal4"}, wantErr: session.ErrUnknownACR},
		{name: "aal2 without mfa", in: session.Assurance{AMR: []string{"pwd"}, ACR: "aal2"}, wantErr: session.ErrACRWithoutMFA},
		{name: "in the future", in: session.Assurance{AMR: []string{"pwd"}, AuthTime: now.Add(time.Minute)}, wantErr: session.ErrFutureAuthTime},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := session.NormalizeAssurance(tc.in, now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if !slices.Equal(got.AMR, tc.want.AMR) || got.ACR != tc.want.ACR || !got.AuthTime.Equal(tc.want.AuthTime) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAssuranceSignedAndKeptAcrossRefresh: the amr, acr and auth_time identity reports are stored with
// the session and signed into its first access token and into every token a refresh issues, the
// refresh grace's replay included; auth_time stays the sign-in's.
func TestAssuranceSignedAndKeptAcrossRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{RefreshGrace: time.Minute})
	ctx := context.Background()
	verifier := authn.NewVerifier(authn.VerifierConfig{Issuer: authntest.Issuer, Audience: "latchkey", Source: f.ring.Source, CacheSize: -1})
	signedIn := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	wantAMR := []string{"pwd", "otp", "mfa"}

	check := func(t *testing.T, what, access string) {
		t.Helper()
		p, err := verifier.Verify(ctx, access)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.Equal(p.AMR, wantAMR) || p.ACR != "aal2" || !p.AuthTime.Equal(signedIn) {
			t.Errorf("%s: amr/acr/auth_time = %v/%q/%v, want %v/aal2/%v", what, p.AMR, p.ACR, p.AuthTime, wantAMR, signedIn)
		}
		if !(authn.Assurance{MinACR: authn.ACRMultiFactor, MaxAge: 15 * time.Minute}).SatisfiedBy(p, time.Now()) {
			t.Errorf("%s: a fresh two-factor token does not satisfy a step-up requirement", what)
		}
		if (authn.Assurance{MaxAge: time.Minute}).SatisfiedBy(p, time.Now()) {
			t.Errorf("%s: a sign-in two minutes old satisfies MaxAge 1m: auth_time was reset", what)
		}
	}

	first, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{AMR: []string{"pwd", "otp", "otp", "mfa"}, ACR: "aal2", AuthTime: signedIn})
	if err != nil {
		t.Fatal(err)
	}
	check(t, "first token", first.AccessToken)
	stored, err := f.store.Get(ctx, first.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored.Assurance.AMR, wantAMR) || stored.Assurance.ACR != "aal2" || !stored.Assurance.AuthTime.Equal(signedIn) {
		t.Errorf("stored assurance = %+v", stored.Assurance)
	}

	second, err := f.svc.Refresh(ctx, first.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken == first.AccessToken {
		t.Fatal("refresh returned the first access token")
	}
	check(t, "refreshed token", second.AccessToken)

	replay, err := f.svc.Refresh(ctx, first.RefreshToken, "")
	if err != nil {
		t.Fatalf("replay within the grace: %v", err)
	}
	if replay.AccessToken != second.AccessToken {
		t.Error("replay within the grace returned another access token")
	}
	check(t, "grace replay", replay.AccessToken)

	third, err := f.svc.Refresh(ctx, second.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	check(t, "second refresh", third.AccessToken)
}

// TestCreateRefusesBadAssurance: a start request claiming what no sign-in proves stores nothing and
// issues nothing.
func TestCreateRefusesBadAssurance(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	for name, a := range map[string]session.Assurance{
		"unknown amr":      {AMR: []string{"retina"}},
		"aal3 without mfa": {AMR: []string{"hwk"}, ACR: "aal3"},
		"future":           {AMR: []string{"pwd"}, AuthTime: time.Now().Add(time.Hour)},
	} {
		if issued, err := f.svc.Create(ctx, "acc-1", device, a); err == nil || issued.AccessToken != "" {
			t.Errorf("%s: Create = %+v, %v; want an error and no token", name, issued, err)
		}
	}
	if n := len(f.outbox.ofType(events.TypeSessionCreated)); n != 0 {
		t.Errorf("%d session.created events, want none", n)
	}
	list, err := f.svc.List(ctx, "acc-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("%d sessions stored, want none", len(list))
	}
}

// TestCreateWithoutAssurance: a start request that reports nothing (an older identity) gives tokens of
// one factor proven now, which satisfy no step-up requirement.
func TestCreateWithoutAssurance(t *testing.T) {
	t.Parallel()
	f := newFixture(t, session.Options{})
	ctx := context.Background()
	before := time.Now().Truncate(time.Second)
	issued, err := f.svc.Create(ctx, "acc-1", device, session.Assurance{})
	if err != nil {
		t.Fatal(err)
	}
	verifier := authn.NewVerifier(authn.VerifierConfig{Issuer: authntest.Issuer, Audience: "latchkey", Source: f.ring.Source})
	p, err := verifier.Verify(ctx, issued.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.AMR != nil || p.ACR != "aal1" || p.AuthTime.Before(before) || p.AuthTime.After(time.Now()) {
		t.Errorf("amr/acr/auth_time = %v/%q/%v, want none/aal1/now", p.AMR, p.ACR, p.AuthTime)
	}
	if (authn.Assurance{MinACR: authn.ACRMultiFactor}).SatisfiedBy(p, time.Now()) {
		t.Error("a one-factor token satisfies MinACR aal2")
	}
}
