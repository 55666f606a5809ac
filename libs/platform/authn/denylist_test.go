package authn_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestDenyList(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		deny   func(d *authn.DenyList)
		wait   time.Duration
		id     string
		denied bool
	}{
		{"denied until later", func(d *authn.DenyList) { d.Deny("s1", now.Add(time.Hour)) }, 0, "s1", true},
		{"other sessions unaffected", func(d *authn.DenyList) { d.Deny("s1", now.Add(time.Hour)) }, 0, "s2", false},
		{"already over", func(d *authn.DenyList) { d.Deny("s1", now.Add(-time.Second)) }, 0, "s1", false},
		{"expires", func(d *authn.DenyList) { d.Deny("s1", time.Now().Add(50*time.Millisecond)) }, 100 * time.Millisecond, "s1", false},
		{"an earlier time never shortens an entry", func(d *authn.DenyList) {
			d.Deny("s1", now.Add(time.Hour))
			d.Deny("s1", now.Add(-time.Hour))
		}, 0, "s1", true},
		{"a later time extends an entry", func(d *authn.DenyList) {
			d.Deny("s1", time.Now().Add(50*time.Millisecond))
			d.Deny("s1", now.Add(time.Hour))
		}, 100 * time.Millisecond, "s1", true},
		{"empty session id ignored", func(d *authn.DenyList) { d.Deny("", now.Add(time.Hour)) }, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := authn.NewDenyList()
			tc.deny(d)
			time.Sleep(tc.wait)
			if got := d.Denied(tc.id); got != tc.denied {
				t.Errorf("Denied(%q) = %v, want %v", tc.id, got, tc.denied)
			}
		})
	}
}

func TestDenyListApply(t *testing.T) {
	revoked := func(payload any) events.Envelope {
		ev, err := events.New(events.TypeSessionRevoked, "acc-1", payload)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	created, err := events.New(events.TypeSessionCreated, "acc-1", events.SessionCreated{SessionID: "s-created"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ev     events.Envelope
		id     string
		denied bool
	}{
		{"session.revoked", revoked(events.SessionRevoked{SessionID: "s1", Reason: "logout", DenyUntil: time.Now().Add(time.Hour)}), "s1", true},
		{"session.created is not a revocation", created, "s-created", false},
		{"payload without a session id", revoked(map[string]string{"reason": "logout"}), "", false},
		{"payload of the wrong shape", revoked([]int{1, 2}), "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := authn.NewDenyList()
			d.Apply(context.Background(), tc.ev, quietLogger())
			if got := d.Denied(tc.id); got != tc.denied {
				t.Errorf("Denied(%q) = %v, want %v", tc.id, got, tc.denied)
			}
			if !tc.denied && d.Len() != 0 {
				t.Errorf("deny-list holds %d entries, want 0", d.Len())
			}
		})
	}
}

// TestFollow publishes session.revoked to the broker and expects a following deny-list to apply it
// within a second; a revocation published before the follower started (within the lookback) is
// learned too, as a service starting up must.
func TestFollow(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := kafkax.EnsureTopics(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, 3, events.TopicSessionEvents); err != nil {
		t.Fatal(err)
	}
	producer := kafkax.NewProducer(kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix)
	defer producer.Close()
	publish := func(accountID, sessionID string) {
		t.Helper()
		ev, err := events.New(events.TypeSessionRevoked, accountID, events.SessionRevoked{
			SessionID: sessionID, Reason: "logout", DenyUntil: time.Now().Add(15 * time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := producer.Publish(ctx, kafkax.Topic(env.TopicPrefix, events.TopicSessionEvents), ev); err != nil {
			t.Fatal(err)
		}
	}

	publish("acc-early", "s-early") // before the follower starts
	d := authn.NewDenyList()
	done := make(chan error, 1)
	go func() {
		done <- d.Follow(ctx, kafkax.Cluster{Brokers: env.Brokers}, env.TopicPrefix, authn.DefaultLookback, quietLogger())
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Follow returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Follow did not return within 10s of cancel")
		}
	}()

	waitDenied := func(id string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !d.Denied(id) {
			if time.Now().After(deadline) {
				t.Fatalf("session %s not denied within %s", id, within)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitDenied("s-early", 5*time.Second) // start-up: catching up may take a moment

	for _, acc := range []string{"acc-1", "acc-2", "acc-3"} { // keys spread over the partitions
		sid := "s-" + acc
		publish(acc, sid)
		waitDenied(sid, time.Second)
	}
}

// Every account status but ACTIVE refuses the account's API keys; a later ACTIVE snapshot lifts it.
func TestDenyListAccountStatus(t *testing.T) {
	snapshot := func(version int64, status string) events.Envelope {
		ev, err := events.New(events.TypeAccountUpdated, "acc-1", events.AccountSnapshot{Version: version, Status: status})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	tests := []struct {
		status string
		denied bool
	}{
		{events.AccountStatusActive, false},
		{events.AccountStatusDeactivated, true},
		{events.AccountStatusLocked, true},
	}
	for _, tc := range tests {
		t.Run(tc.status, func(t *testing.T) {
			d := authn.NewDenyList()
			d.Apply(context.Background(), snapshot(2, tc.status), quietLogger())
			if got := d.APIKeyDenied("key-1", "acc-1", time.Time{}); got != tc.denied {
				t.Errorf("APIKeyDenied after a %s snapshot = %v, want %v", tc.status, got, tc.denied)
			}
			d.Apply(context.Background(), snapshot(3, events.AccountStatusActive), quietLogger())
			if d.APIKeyDenied("key-1", "acc-1", time.Time{}) {
				t.Error("still denied after a newer ACTIVE snapshot")
			}
		})
	}
}
