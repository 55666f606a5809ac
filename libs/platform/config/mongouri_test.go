package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// TestMongoURIKeptAndMasked shows that LoadBase hands production MongoDB URIs (credentials, TLS,
// replicaSet, mongodb+srv) to the driver exactly as given and that neither the start-up log line nor
// fmt ever prints them.
func TestMongoURIKeptAndMasked(t *testing.T) {
	uris := []string{
		"mongodb://latchkey-identity:p%40ss%3Aword@mongo-0.db:27017,mongo-1.db:27017,mongo-2.db:27017/?authSource=admin&replicaSet=rs0&tls=true&tlsCAFile=/etc/latchkey/mongodb/ca.crt&w=majority",
		"mongodb+srv://latchkey-identity:p%40ss%3Aword@cluster0.example.mongodb.net/?retryWrites=true&w=majority&appName=latchkey",
	}
	for _, uri := range uris {
		t.Run(strings.SplitN(uri, ":", 2)[0], func(t *testing.T) {
			l := config.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123", "MONGODB_URI": uri})
			b := l.LoadBase("identity", ":8081", ":9081")
			if err := l.Err(); err != nil {
				t.Fatal(err)
			}
			if got := b.MongoURI.Value(); got != uri {
				t.Errorf("MongoURI = %q, want the URI unchanged %q", got, uri)
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).LogAttrs(t.Context(), slog.LevelInfo, "starting", b.LogAttrs()...)
			for _, out := range []string{buf.String(), fmt.Sprintf("%v %+v %s", b, b, b.MongoURI)} {
				if strings.Contains(out, "p%40ss") || strings.Contains(out, "latchkey-identity:") {
					t.Errorf("URI credentials printed: %s", out)
				}
			}
		})
	}
}
