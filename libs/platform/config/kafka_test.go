package config_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/devpki"
	"github.com/latchkey/latchkey/libs/platform/config"
)

// pkiFiles writes a CA, and a client certificate and key signed by it, and returns their paths.
func pkiFiles(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	ca, err := devpki.NewCA("config test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Client("identity")
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile, err = devpki.WriteFiles(t.TempDir(), "client", ca, pair)
	if err != nil {
		t.Fatal(err)
	}
	return caFile, certFile, keyFile
}

func loadKafka(env map[string]string) (config.Base, error) {
	env["INTERNAL_API_TOKEN"] = "0123456789abcdef0123"
	l := config.NewLoaderFrom(env)
	b := l.LoadBase("identity", ":8081", ":9081")
	return b, l.Err()
}

func TestKafkaSecurityAccepted(t *testing.T) {
	caFile, certFile, keyFile := pkiFiles(t)
	tests := []struct {
		name         string
		env          map[string]string
		wantTLS      bool
		wantMech     string
		wantCerts    int
		wantWarnings int
	}{
		{name: "plaintext by default", env: map[string]string{}},
		{name: "TLS with system roots", env: map[string]string{"KAFKA_TLS_ENABLED": "true"}, wantTLS: true},
		{name: "TLS with CA, client certificate and server name", env: map[string]string{
			"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": caFile, "KAFKA_TLS_CERT_FILE": certFile, "KAFKA_TLS_KEY_FILE": keyFile,
			"KAFKA_TLS_SERVER_NAME": "kafka.internal",
		}, wantTLS: true, wantCerts: 1},
		{name: "SCRAM-SHA-512 over TLS", env: map[string]string{
			"KAFKA_TLS_ENABLED": "true", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "identity", "KAFKA_SASL_PASSWORD": "s3cret",
		}, wantTLS: true, wantMech: "SCRAM-SHA-512"},
		{name: "scram-sha-256 in lower case", env: map[string]string{
			"KAFKA_TLS_ENABLED": "true", "KAFKA_SASL_MECHANISM": "scram-sha-256", "KAFKA_SASL_USERNAME": "identity", "KAFKA_SASL_PASSWORD": "s3cret",
		}, wantTLS: true, wantMech: "SCRAM-SHA-256"},
		{name: "PLAIN without TLS is allowed with a warning", env: map[string]string{
			"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "identity", "KAFKA_SASL_PASSWORD": "s3cret",
		}, wantMech: "PLAIN", wantWarnings: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := loadKafka(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Kafka.TLS != nil; got != tc.wantTLS {
				t.Errorf("TLS on = %v, want %v", got, tc.wantTLS)
			}
			if tc.wantTLS {
				if got := len(b.Kafka.TLS.Certificates); got != tc.wantCerts {
					t.Errorf("client certificates = %d, want %d", got, tc.wantCerts)
				}
				if (b.Kafka.TLS.RootCAs != nil) != (tc.env["KAFKA_TLS_CA_FILE"] != "") {
					t.Errorf("RootCAs set = %v, want it set exactly when KAFKA_TLS_CA_FILE is", b.Kafka.TLS.RootCAs != nil)
				}
				if got := b.Kafka.TLS.ServerName; got != tc.env["KAFKA_TLS_SERVER_NAME"] {
					t.Errorf("ServerName = %q, want %q", got, tc.env["KAFKA_TLS_SERVER_NAME"])
				}
			}
			gotMech := ""
			if b.Kafka.SASL != nil {
				gotMech = b.Kafka.SASL.Name()
			}
			if gotMech != tc.wantMech {
				t.Errorf("SASL mechanism = %q, want %q", gotMech, tc.wantMech)
			}
			if got := len(b.KafkaWarnings()); got != tc.wantWarnings {
				t.Errorf("warnings = %v, want %d", b.KafkaWarnings(), tc.wantWarnings)
			}
			if strings.Join(b.Kafka.Brokers, ",") != "127.0.0.1:9092" {
				t.Errorf("brokers = %v", b.Kafka.Brokers)
			}
		})
	}
}

func TestKafkaSecurityRefused(t *testing.T) {
	caFile, certFile, keyFile := pkiFiles(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // each must appear in the error
	}{
		{name: "unreadable CA file", env: map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": "/nonexistent/ca.pem"},
			want: []string{"KAFKA_TLS_CA_FILE", "/nonexistent/ca.pem"}},
		{name: "CA file without certificates", env: map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": notPEM},
			want: []string{"KAFKA_TLS_CA_FILE", "PEM"}},
		{name: "certificate without key", env: map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CERT_FILE": certFile},
			want: []string{"KAFKA_TLS_CERT_FILE", "KAFKA_TLS_KEY_FILE", "both or neither"}},
		{name: "key without certificate", env: map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_KEY_FILE": keyFile},
			want: []string{"KAFKA_TLS_KEY_FILE", "both or neither"}},
		{name: "key that does not match", env: map[string]string{"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CERT_FILE": caFile, "KAFKA_TLS_KEY_FILE": caFile},
			want: []string{"KAFKA_TLS_CERT_FILE", "KAFKA_TLS_KEY_FILE"}},
		{name: "TLS files with TLS off", env: map[string]string{"KAFKA_TLS_CA_FILE": caFile},
			want: []string{"KAFKA_TLS_CA_FILE", "KAFKA_TLS_ENABLED"}},
		{name: "unknown mechanism", env: map[string]string{"KAFKA_SASL_MECHANISM": "GSSAPI", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw-secret-1"},
			want: []string{"KAFKA_SASL_MECHANISM", "GSSAPI", "SCRAM-SHA-512"}},
		{name: "mechanism without username", env: map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_PASSWORD": "pw-secret-1"},
			want: []string{"KAFKA_SASL_USERNAME"}},
		{name: "mechanism without password", env: map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u"},
			want: []string{"KAFKA_SASL_PASSWORD"}},
		{name: "credentials without mechanism", env: map[string]string{"KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pw-secret-1"},
			want: []string{"KAFKA_SASL_MECHANISM"}},
		{name: "password SASLprep refuses", env: map[string]string{"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "pass\u0007word"},
			want: []string{"KAFKA_SASL_PASSWORD", "SASLprep"}},
		{name: "TLS flag not a boolean", env: map[string]string{"KAFKA_TLS_ENABLED": "perhaps"},
			want: []string{"KAFKA_TLS_ENABLED"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadKafka(tc.env)
			if err == nil {
				t.Fatal("want a configuration error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if pw := tc.env["KAFKA_SASL_PASSWORD"]; pw != "" && strings.Contains(err.Error(), pw) {
				t.Errorf("error %q quotes the password", err)
			}
		})
	}
}

// TestKafkaPasswordNeverLogged logs the start-up attributes and checks the SASL password is masked.
func TestKafkaPasswordNeverLogged(t *testing.T) {
	b, err := loadKafka(map[string]string{
		"KAFKA_TLS_ENABLED": "true", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "KAFKA_SASL_USERNAME": "identity", "KAFKA_SASL_PASSWORD": "hunter2-kafka",
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).LogAttrs(t.Context(), slog.LevelInfo, "starting", b.LogAttrs()...)
	out := buf.String()
	if strings.Contains(out, "hunter2-kafka") {
		t.Fatalf("password in log line: %s", out)
	}
	if !strings.Contains(out, `"kafka_sasl_mechanism":"SCRAM-SHA-512"`) || !strings.Contains(out, `"kafka_sasl_password":"****"`) {
		t.Errorf("log line does not show the SASL settings masked: %s", out)
	}
}

// TestKafkaPLAINPasswordNotPrinted prints the whole Base as fmt would (a careless %+v): kafka-go's
// PLAIN mechanism is a struct holding the password, and Cluster's String keeps it out.
func TestKafkaPLAINPasswordNotPrinted(t *testing.T) {
	b, err := loadKafka(map[string]string{
		"KAFKA_TLS_ENABLED": "true", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "identity", "KAFKA_SASL_PASSWORD": "hunter2-plain",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v", b), fmt.Sprintf("%+v", b), fmt.Sprint(b.Kafka)} {
		if strings.Contains(out, "hunter2-plain") {
			t.Fatalf("password printed: %s", out)
		}
	}
}
