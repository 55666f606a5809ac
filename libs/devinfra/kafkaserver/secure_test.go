package kafkaserver_test

import (
	"context"
	"crypto/tls"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/latchkey/latchkey/libs/devinfra/devpki"
	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
)

// TestSecureBroker: with Users and TLS the broker speaks only TLS, accepts each user with that
// user's mechanism and password and nothing else, and after a restart from its data directory it
// re-creates a newly seeded topic over its own TLS + SASL.
func TestSecureBroker(t *testing.T) {
	t.Parallel()
	ca, err := devpki.NewCA("kafkaserver test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := kafkaserver.Options{
		Dir: dir, Partitions: 1, Topics: []string{"kept"},
		Users: []kafkaserver.User{
			{Mechanism: "SCRAM-SHA-512", Username: "svc", Password: "scram-secret"},
			{Mechanism: "PLAIN", Username: "tool", Password: "plain-secret"},
		},
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	srv, err := kafkaserver.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	opts.Port = srv.Port()

	scramMech := func(pw string) *kafka.Dialer {
		m, err := scram.Mechanism(scram.SHA512, "svc", pw)
		if err != nil {
			t.Fatal(err)
		}
		return &kafka.Dialer{Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}, SASLMechanism: m}
	}
	plainDialer := &kafka.Dialer{Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12},
		SASLMechanism: plain.Mechanism{Username: "tool", Password: "plain-secret"}}
	topics := func(d *kafka.Dialer) ([]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := d.DialContext(ctx, "tcp", srv.Brokers()[0])
		if err != nil {
			return nil, err
		}
		defer func() { _ = conn.Close() }()
		parts, err := conn.ReadPartitions()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, p := range parts {
			if !slices.Contains(names, p.Topic) {
				names = append(names, p.Topic)
			}
		}
		return names, nil
	}
	check := func(when string, wantTopics ...string) {
		t.Helper()
		for name, d := range map[string]*kafka.Dialer{"SCRAM-SHA-512": scramMech("scram-secret"), "PLAIN": plainDialer} {
			got, err := topics(d)
			if err != nil {
				t.Errorf("%s, %s: %v", when, name, err)
				continue
			}
			for _, want := range wantTopics {
				if !slices.Contains(got, want) {
					t.Errorf("%s, %s: topics %v, want %s among them", when, name, got, want)
				}
			}
		}
		refused := map[string]*kafka.Dialer{
			"wrong password": scramMech("wrong"),
			"no SASL":        {Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}},
			"plaintext":      {Timeout: 5 * time.Second},
		}
		for name, d := range refused {
			if _, err := topics(d); err == nil {
				t.Errorf("%s, %s: accepted, want refused", when, name)
			}
		}
	}
	check("fresh", "kept")
	srv.Close()

	opts.Topics = append(opts.Topics, "added")
	srv = start(t, opts)
	check("after a restart", "kept", "added")
}
