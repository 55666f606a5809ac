package config_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
)

func TestLoadBaseDefaults(t *testing.T) {
	l := config.NewLoaderFrom(map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123"})
	b := l.LoadBase("identity", ":8081", ":9081")
	if err := l.Err(); err != nil {
		t.Fatal(err)
	}
	if b.MongoDatabase != "latchkey_identity" || b.HTTPAddr != ":8081" || b.BodyLimit != 64<<10 || b.LogLevel != slog.LevelInfo ||
		b.ShutdownDrainDelay != 5*time.Second {
		t.Fatalf("defaults = %+v", b)
	}
}

func TestLoaderCollectsEveryError(t *testing.T) {
	l := config.NewLoaderFrom(map[string]string{
		"BODY_LIMIT_BYTES": "lots", "SHUTDOWN_TIMEOUT": "soon", "LOG_LEVEL": "loud", "KAFKA_CREATE_TOPICS": "maybe",
		"SHUTDOWN_DRAIN_DELAY": "-5s",
	})
	l.LoadBase("session", ":8082", ":9082")
	err := l.Err()
	if err == nil {
		t.Fatal("want errors")
	}
	for _, key := range []string{"BODY_LIMIT_BYTES", "SHUTDOWN_TIMEOUT", "LOG_LEVEL", "KAFKA_CREATE_TOPICS", "INTERNAL_API_TOKEN", "SHUTDOWN_DRAIN_DELAY"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestTypedValues(t *testing.T) {
	l := config.NewLoaderFrom(map[string]string{"D": "90s", "L": " a, ,b ", "B": "yes", "I": "7"})
	if got := l.Duration("D", 0); got != 90*time.Second {
		t.Errorf("Duration = %v", got)
	}
	if got := l.List("L", nil); strings.Join(got, "|") != "a|b" {
		t.Errorf("List = %v", got)
	}
	if !l.Bool("B", false) || l.Int("I", 0) != 7 || l.String("MISSING", "def") != "def" {
		t.Error("typed values wrong")
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := config.Secret("mongodb://user:hunter2@db")
	for _, out := range []string{s.String(), fmt.Sprint(s), fmt.Sprintf("%v", s), s.LogValue().String()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret leaked: %q", out)
		}
	}
	if s.Value() != "mongodb://user:hunter2@db" {
		t.Fatal("Value must return the secret")
	}
}

func TestBaseLogAttrsMaskSecrets(t *testing.T) {
	l := config.NewLoaderFrom(map[string]string{
		"INTERNAL_API_TOKEN": "internal-token-hunter2", "MONGODB_URI": "mongodb://u:hunter2@db",
	})
	b := l.LoadBase("identity", ":8081", ":9081")
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("starting", "config", slog.GroupValue(b.LogAttrs()...))
	if strings.Contains(sb.String(), "hunter2") || !strings.Contains(sb.String(), `"mongodb_database":"latchkey_identity"`) {
		t.Fatalf("log line = %s, want masked secrets and the plain settings", sb.String())
	}
}

func TestHeaderName(t *testing.T) {
	tests := []struct {
		value   string
		want    string
		wantErr bool
	}{
		{"X-Client-Geo", "X-Client-Geo", false},
		{"", "", false},
		{"X Geo", "", true},
		{"X-Geo:", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			l := config.NewLoaderFrom(map[string]string{"H": tc.value})
			if got := l.HeaderName("H", ""); got != tc.want {
				t.Errorf("HeaderName = %q, want %q", got, tc.want)
			}
			if err := l.Err(); (err != nil) != tc.wantErr || err != nil && !strings.Contains(err.Error(), "H=") {
				t.Errorf("error = %v, want one naming H: %v", err, tc.wantErr)
			}
		})
	}
}
