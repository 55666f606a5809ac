package store

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/services/session/internal/session"
)

// TestDecodeSessionDocMatchesTheDriver: the hand-written decoder reads every field as the driver's
// struct codec does, for a full document, a legacy one (null and missing fields) and a projected one,
// and refuses a field of the wrong type.
func TestDecodeSessionDocMatchesTheDriver(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	full := toDoc(session.Session{
		ID: "s-1", AccountID: "acc-1", DeviceID: "dev-1", DeviceName: "Pixel", Platform: "ANDROID", Browser: "Firefox 128.0",
		OS: "Linux", IPAddress: "203.0.113.7", UserAgent: "ua", Location: "Berlin, DE", CreatedAt: now, LastActiveAt: now.Add(time.Second),
		ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour), RevokedAt: now.Add(2 * time.Second), RevokeReason: "logout",
		RefreshHash: "h2", RotatedRefreshHashes: []string{"h0", "h1"}, GraceHash: "h1", GraceSealed: []byte{1, 2, 3}, GraceUntil: now.Add(10 * time.Second),
		Assurance: session.Assurance{AMR: []string{"pwd", "otp", "mfa"}, ACR: "aal2", AuthTime: now.Add(-time.Minute)},
	})
	fullRaw, err := bson.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := bson.Marshal(bson.D{{Key: "_id", Value: "s-2"}, {Key: "accountId", Value: "acc-1"}, {Key: "createdAt", Value: now},
		{Key: "lastActiveAt", Value: now}, {Key: "expiresAt", Value: now}, {Key: "absoluteExpiresAt", Value: now},
		{Key: "revokedAt", Value: nil}, {Key: "refreshHash", Value: "h"}, {Key: "rotatedRefreshHashes", Value: bson.A{}}, {Key: "unknown", Value: 42}})
	if err != nil {
		t.Fatal(err)
	}
	projected, err := bson.Marshal(bson.D{{Key: "_id", Value: "s-3"}, {Key: "deviceName", Value: "laptop"}, {Key: "lastActiveAt", Value: now}})
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range map[string][]byte{"full": fullRaw, "legacy": legacy, "projected": projected} {
		var want, got sessionDoc
		if err := bson.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := decodeSessionDoc(raw, &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got.session(), want.session()) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got.session(), want.session())
		}
	}

	wrong, _ := bson.Marshal(bson.D{{Key: "_id", Value: "s-4"}, {Key: "expiresAt", Value: "tomorrow"}})
	var d sessionDoc
	if err := decodeSessionDoc(wrong, &d); err == nil || !strings.Contains(err.Error(), "expiresAt") {
		t.Errorf("a string expiresAt: err = %v, want an error naming the field", err)
	}
}
