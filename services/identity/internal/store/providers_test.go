package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/services/identity/internal/device"
	"github.com/latchkey/latchkey/services/identity/internal/oauth"
	"github.com/latchkey/latchkey/services/identity/internal/store"
)

func TestProviders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewProviders(newDB(t))
	link := func(id, acc, provider, sub string) oauth.Link {
		return oauth.Link{ID: id, AccountID: acc, Provider: provider, Subject: sub, LinkedAt: time.Now()}
	}
	if err := s.Link(ctx, link("l1", "a1", oauth.Google, "g-1")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		l    oauth.Link
		want error
	}{
		{"same provider account, same account", link("l2", "a1", oauth.Google, "g-1"), oauth.ErrAlreadyLinked},
		{"second google account on one account", link("l3", "a1", oauth.Google, "g-2"), oauth.ErrAlreadyLinked},
		{"provider account of another account", link("l4", "a2", oauth.Google, "g-1"), oauth.ErrLinkedElsewhere},
		{"same subject at another provider", link("l5", "a2", oauth.Apple, "g-1"), nil},
		{"another provider on the account", link("l6", "a1", oauth.Apple, "a-1"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Link(ctx, tc.l); !errors.Is(err, tc.want) {
				t.Errorf("Link = %v, want %v", err, tc.want)
			}
		})
	}
	if n, err := s.CountByAccount(ctx, "a1"); err != nil || n != 2 {
		t.Errorf("CountByAccount(a1) = %d, %v, want 2", n, err)
	}
	if l, err := s.ByIdentity(ctx, oauth.Google, "g-1"); err != nil || l.AccountID != "a1" {
		t.Errorf("ByIdentity = %+v, %v", l, err)
	}
	if _, err := s.ByIdentity(ctx, oauth.GitHub, "g-1"); !errors.Is(err, oauth.ErrNotLinked) {
		t.Errorf("ByIdentity(github) = %v, want ErrNotLinked", err)
	}
	if ok, err := s.Unlink(ctx, "a2", oauth.Google); err != nil || ok {
		t.Errorf("Unlink of another account's provider = %v, %v, want false", ok, err)
	}
	if ok, err := s.Unlink(ctx, "a1", oauth.Google); err != nil || !ok {
		t.Errorf("Unlink = %v, %v, want true", ok, err)
	}
	if list, err := s.ListByAccount(ctx, "a1"); err != nil || len(list) != 1 || list[0].Provider != oauth.Apple {
		t.Errorf("ListByAccount = %+v, %v, want apple only", list, err)
	}
}

func TestDevicesListRevokeAndSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store.NewDevices(newDB(t))
	now := time.Now().UTC()
	for _, d := range []device.TrustedDevice{
		{ID: "k1", AccountID: "a1", DeviceID: "laptop", CreatedAt: now, LastUsedAt: now.Add(-time.Hour)},
		{ID: "k2", AccountID: "a1", DeviceID: "phone", CreatedAt: now, LastUsedAt: now},
		{ID: "k3", AccountID: "a2", DeviceID: "laptop", CreatedAt: now, LastUsedAt: now},
	} {
		if _, err := s.Trust(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordSignIn(ctx, device.SignIn{AccountID: "a1", DeviceID: "laptop", SessionID: "s1", IP: "203.0.113.5", UserAgent: "UA/1",
		Location: "Berlin, DE", Method: device.MethodOAuthPrefix + "github", Timezone: "Europe/Berlin", At: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "a1")
	if err != nil || len(list) != 2 || list[0].DeviceID != "laptop" || list[0].LoginCount != 1 || list[0].LastIP != "203.0.113.5" || list[0].UserAgent != "UA/1" {
		t.Fatalf("List = %+v, %v, want laptop (just used, one sign-in) first", list, err)
	}
	if d := list[0]; d.LastLocation != "Berlin, DE" || d.LastLoginMethod != "oauth:github" || d.Timezone != "Europe/Berlin" || !d.Active() {
		t.Errorf("laptop = %+v, want the sign-in's location, method and time zone", d)
	}
	if d, err := s.SessionDevice(ctx, "a1", "s1"); err != nil || d != "laptop" {
		t.Errorf("SessionDevice = %q, %v", d, err)
	}
	if _, err := s.SessionDevice(ctx, "a2", "s1"); !errors.Is(err, device.ErrNotFound) {
		t.Errorf("SessionDevice of another account = %v, want ErrNotFound", err)
	}
	if err := s.Revoke(ctx, "a2", "k1"); !errors.Is(err, device.ErrNotFound) {
		t.Errorf("Revoke of another account's device = %v, want ErrNotFound", err)
	}
	if err := s.Revoke(ctx, "a1", "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Find(ctx, "a1", "laptop"); !errors.Is(err, device.ErrNotFound) {
		t.Errorf("Find after Revoke = %v, want ErrNotFound", err)
	}
	if _, err := s.Find(ctx, "a2", "laptop"); err != nil {
		t.Errorf("the other account's laptop: %v", err)
	}
	// A revoked device is kept (ListAll with revoked ones) but neither trusted nor counted, and
	// cannot be revoked twice; trusting it again makes it active under the same key id.
	if err := s.Revoke(ctx, "a1", "k1"); !errors.Is(err, device.ErrNotFound) {
		t.Errorf("second Revoke = %v, want ErrNotFound", err)
	}
	if l, _ := s.List(ctx, "a1"); len(l) != 1 || l[0].DeviceID != "phone" {
		t.Errorf("List after Revoke = %+v, want the phone only", l)
	}
	all, err := s.ListAll(ctx, "a1", true)
	if err != nil || len(all) != 2 {
		t.Fatalf("ListAll = %+v, %v, want 2", all, err)
	}
	for _, d := range all {
		if d.DeviceID == "laptop" && (d.Active() || d.RevokedAt.IsZero()) {
			t.Errorf("revoked laptop = %+v, want RevokedAt set", d)
		}
	}
	if n, err := s.Count(ctx, "a1"); err != nil || n != 1 {
		t.Errorf("Count = %d, %v, want 1", n, err)
	}
	if d, err := s.Trust(ctx, device.TrustedDevice{ID: "k-new", AccountID: "a1", DeviceID: "laptop", CreatedAt: now, LastUsedAt: now}); err != nil || d.ID != "k1" || !d.Active() {
		t.Errorf("Trust again = %+v, %v, want k1 active", d, err)
	}
	if _, err := s.Find(ctx, "a1", "laptop"); err != nil {
		t.Errorf("Find after trusting again: %v", err)
	}
}
