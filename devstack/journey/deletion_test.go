package journey_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// TestAccountDeletionJourney runs the whole deletion saga through the gateway with a 2-second grace
// period: an account with a verified e-mail and phone, a profile, an API key, codes and alerts
// delivered and a username schedules its deletion; once the grace period is over, no document of any
// service's database mentions its id, e-mail or phone number; signing in fails as for an unknown
// account; the e-mail can register again (a new account); the username stays reserved.
func TestAccountDeletionJourney(t *testing.T) {
	s := startFullStack(t, withServiceEnv("identity", map[string]string{
		"ACCOUNT_DELETION_GRACE":          "2s",
		"ACCOUNT_DELETION_CHECK_INTERVAL": "200ms",
	}))
	c, env := s.client, s.env
	ada := register(t, c, "delada")
	bob := register(t, c, "delbob") // stays: the erasure must not touch him
	const phone = "+447700900321"

	// Everything each service keeps about an account.
	owner := c.stepUp(t, ada.access, password)
	c.do("POST", "/api/v1/auth/send-phone-verification", map[string]any{"phone_number": phone}, owner...).want(t, 200, "send phone code")
	code := c.latestCode(t, phone, "phone_verification", 0)
	c.do("POST", "/api/v1/auth/verify-phone", map[string]any{"phone_number": phone, "otp_code": code}, owner...).want(t, 200, "verify phone")
	login := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": ada.email, "password": password, "device_id": ada.device}).want(t, 200, "sign in")
	access := str(login.Body, "access_token")
	c.do("PATCH", "/api/v1/me", map[string]any{"display_name": "Countess Ada", "bio": "Analyst", "location": "London", "timezone": "Europe/London"},
		bearer(access)...).want(t, 200, "set profile fields")
	c.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "ci", "scopes": []string{"read"}}, c.stepUp(t, access, password)...).want(t, 201, "create api key")
	c.latestAlert(t, ada.email, "api_key_created")

	// Scheduling needs a step-up; the answer is when.
	c.do("DELETE", "/api/v1/account", nil, bearer(access)...).want(t, 401, "delete without step-up")
	r := c.do("DELETE", "/api/v1/account", nil, c.stepUp(t, access, password)...).want(t, 202, "schedule deletion")
	if _, err := time.Parse(time.RFC3339, str(r.Body, "data", "deleteAt")); err != nil {
		t.Fatalf("schedule deletion = %s, want data.deleteAt", r.Raw)
	}
	c.latestAlert(t, ada.email, "account_deletion_scheduled")

	// The deletion runs once the grace period is over; then nothing may mention the account.
	needles := []string{ada.id, ada.email, phone, strings.TrimPrefix(phone, "+")}
	var leftovers []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		leftovers = scanStack(t, env.MongoURI, env.DBPrefix, needles)
		if len(leftovers) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(leftovers) > 0 {
		t.Fatalf("the deleted account is still found:\n%s", strings.Join(leftovers, "\n"))
	}
	if found := scanStack(t, env.MongoURI, env.DBPrefix, []string{bob.id, bob.email}); len(found) == 0 {
		t.Fatal("the other account's data is gone too")
	}

	// Sign-in answers as for an account that never existed.
	gone := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": ada.email, "password": password, "device_id": ada.device}).want(t, 401, "sign in after deletion")
	unknown := c.do("POST", "/api/v1/auth/login", map[string]any{"identifier": "nobody-at-all@example.com", "password": password, "device_id": ada.device}).want(t, 401, "unknown account")
	if string(gone.Raw) != string(unknown.Raw) {
		t.Errorf("sign-in of the deleted account = %s, want the unknown account's %s", gone.Raw, unknown.Raw)
	}
	c.do("GET", "/api/v1/me", nil, bearer(access)...).want(t, 401, "the old access token")

	// The username stays reserved, for nobody.
	check := c.do("GET", "/api/v1/account/username/check?username="+url.QueryEscape(ada.username), nil).want(t, 200, "username check")
	if data, _ := check.Body["data"].(map[string]any); data["available"] != false {
		t.Errorf("username %s after deletion = %s, want it still reserved", ada.username, check.Raw)
	}

	// The address can register again: a new account.
	before := c.outboxCount(t, ada.email)
	c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": ada.email}).want(t, 202, "register again")
	again := c.do("POST", "/api/v1/auth/verify-registration", map[string]any{
		"email": ada.email, "otp_code": c.latestCode(t, ada.email, "registration", before), "password": password, "username": "delada_again",
		"first_name": "Ada", "device_id": ada.device,
	}).want(t, 201, "verify registration again")
	if id := str(again.Body, "user", "id"); id == "" || id == ada.id {
		t.Errorf("registration again = %s, want a new account id", again.Raw)
	}
	c.do("POST", "/api/v1/auth/initiate-registration", map[string]any{"email": "someone-else@example.com"}).want(t, 202, "another registration")
	other := c.do("POST", "/api/v1/auth/verify-registration", map[string]any{
		"email": "someone-else@example.com", "otp_code": c.latestCode(t, "someone-else@example.com", "registration", 0), "password": password,
		"username": ada.username, "first_name": "Eve",
	})
	if other.Status == 201 {
		t.Errorf("someone else took the reserved username %s: %s", ada.username, other.Raw)
	}
}

// scanStack reads every document of every collection of every database of the stack (those named
// with prefix) as extended JSON and returns "database.collection: document" for each one mentioning
// one of needles, case-insensitively. It fails when the stack has fewer than four databases (one per
// service), so an empty scan cannot pass for a clean one.
func scanStack(t *testing.T, uri, prefix string, needles []string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	names, err := client.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	dbs := 0
	for _, dbName := range names {
		if !strings.HasPrefix(dbName, prefix) {
			continue // another test's world
		}
		dbs++
		db := client.Database(dbName)
		colls, err := db.ListCollectionNames(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for _, coll := range colls {
			cur, err := db.Collection(coll).Find(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			var docs []bson.Raw
			if err := cur.All(ctx, &docs); err != nil {
				t.Fatal(err)
			}
			for _, d := range docs {
				js, err := bson.MarshalExtJSON(d, false, false)
				if err != nil {
					t.Fatal(err)
				}
				text := strings.ToLower(string(js))
				for _, n := range needles {
					if strings.Contains(text, strings.ToLower(n)) {
						out = append(out, fmt.Sprintf("%s.%s (%q): %.400s", dbName, coll, n, js))
						break
					}
				}
			}
		}
	}
	if dbs < 4 {
		t.Fatalf("found %d databases of the stack (prefix %s), want one per service", dbs, prefix)
	}
	return out
}
