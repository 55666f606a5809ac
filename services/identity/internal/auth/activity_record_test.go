package auth_test

import (
	"context"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/authn"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/services/identity/internal/auth"
)

// RecordChange says who made a change: the owner in their own session (with that session), an
// operator whose token acts on another account (admin, with the operator's id, and not the
// operator's session), the actor the context names, or the one the change names.
func TestRecordChangeActor(t *testing.T) {
	t.Parallel()
	ob := &outbox{}
	svc := newService(t, ob)
	own := authn.WithPrincipal(context.Background(), authn.Principal{AccountID: "acc-1", SessionID: "sess-1"})
	operator := authn.WithPrincipal(context.Background(), authn.Principal{AccountID: "op-9", SessionID: "sess-9"})
	client := auth.WithClient(context.Background(), auth.Client{IP: "192.0.2.1", UserAgent: "ua/1", Location: "Lagos, NG"})
	tests := []struct {
		name      string
		ctx       context.Context
		act       events.Activity
		wantActor events.Actor
		wantSID   string
		wantIP    string
	}{
		{"owner in a session", own, events.Activity{}, events.Actor{Type: events.ActorOwner}, "sess-1", ""},
		{"operator's token", operator, events.Activity{}, events.Actor{Type: events.ActorAdmin, ID: "op-9"}, "", ""},
		{"actor from the context", auth.WithActor(operator, events.Actor{Type: events.ActorSupport, ID: "op-9"}), events.Activity{}, events.Actor{Type: events.ActorSupport, ID: "op-9"}, "", ""},
		{"actor of the change", operator, events.Activity{Actor: events.Actor{Type: events.ActorSystem}}, events.Actor{Type: events.ActorSystem}, "", ""},
		{"client from the request", client, events.Activity{}, events.Actor{Type: events.ActorOwner}, "", "192.0.2.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ob.ofType(events.TypeActivity))
			act := tc.act
			act.Kind = events.ActivityPasswordChanged
			svc.RecordChange(tc.ctx, "acc-1", act)
			got := ob.ofType(events.TypeActivity)
			if len(got) != before+1 {
				t.Fatalf("%d activity events queued, want 1", len(got)-before)
			}
			var a events.Activity
			if err := got[len(got)-1].Decode(&a); err != nil {
				t.Fatal(err)
			}
			if a.Actor != tc.wantActor || a.SessionID != tc.wantSID || a.IPAddress != tc.wantIP || got[len(got)-1].AccountID != "acc-1" {
				t.Errorf("recorded %+v, want actor %+v, session %q, ip %q", a, tc.wantActor, tc.wantSID, tc.wantIP)
			}
		})
	}
}
