package stack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// TestSecureKafka starts the embedded broker with SecureKafka: the services get KAFKA_TLS_* and
// KAFKA_SASL_* that the platform's configuration accepts and that reach the broker, plaintext does
// not, and both hold across a broker restart (which re-creates the seeded topics over TLS + SASL).
func TestSecureKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded MongoDB server and Kafka broker")
	}
	cfg := fakeConfig(nil, nil)
	cfg.MongoURI, cfg.Brokers, cfg.DataDir, cfg.SecureKafka = "", nil, t.TempDir(), true
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	st, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Stop(context.Background()) }()

	_, r := fetch(t, st.ServiceURL(Notification)+"/", nil)
	for k, want := range st.KafkaEnv() {
		if r.Env[k] != want {
			t.Errorf("notification got %s=%q, want %q", k, r.Env[k], want)
		}
	}
	l := config.NewLoaderFrom(map[string]string{
		"INTERNAL_API_TOKEN": "0123456789abcdef0123", "KAFKA_BROKERS": r.Env["KAFKA_BROKERS"],
		"KAFKA_TLS_ENABLED": r.Env["KAFKA_TLS_ENABLED"], "KAFKA_TLS_CA_FILE": r.Env["KAFKA_TLS_CA_FILE"],
		"KAFKA_SASL_MECHANISM": r.Env["KAFKA_SASL_MECHANISM"], "KAFKA_SASL_USERNAME": r.Env["KAFKA_SASL_USERNAME"],
		"KAFKA_SASL_PASSWORD": r.Env["KAFKA_SASL_PASSWORD"],
	})
	base := l.LoadBase(Notification, ":0", ":0")
	if err := l.Err(); err != nil {
		t.Fatalf("the services' configuration refuses the stack's Kafka env: %v", err)
	}

	ping := func(what string, cluster kafkax.Cluster, wantOK bool) {
		t.Helper()
		pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer pcancel()
		if err := kafkax.Ping(pctx, cluster); (err == nil) != wantOK {
			t.Errorf("%s: Ping = %v, want success %v", what, err, wantOK)
		}
	}
	ping("with the services' settings", base.Kafka, true)
	ping("plaintext", kafkax.Cluster{Brokers: base.Kafka.Brokers}, false)
	noSASL := base.Kafka
	noSASL.SASL = nil
	ping("TLS without SASL", noSASL, false)

	if err := st.StopKafka(); err != nil {
		t.Fatal(err)
	}
	if err := st.StartKafka(); err != nil {
		t.Fatalf("restart the secure broker: %v", err)
	}
	ping("after a restart", base.Kafka, true)

	// The CA file is what the broker's certificate chains to.
	pem, err := os.ReadFile(r.Env["KAFKA_TLS_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("KAFKA_TLS_CA_FILE holds no certificate")
	}
	conn, err := tls.Dial("tcp", base.Kafka.Brokers[0], &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS to the broker with the CA file: %v", err)
	}
	_ = conn.Close()
}
