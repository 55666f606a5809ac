package kafkax_test

import (
	"context"
	"crypto/tls"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/latchkey/latchkey/libs/devinfra/devpki"
	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
	"github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/libs/platform/events"
	"github.com/latchkey/latchkey/libs/platform/kafkax"
)

// secureBroker is an embedded broker that speaks only TLS and requires SCRAM-SHA-512, and the CA
// that signed its certificate.
type secureBroker struct {
	srv *kafkaserver.Server
	ca  *devpki.CA
}

const (
	scramUser     = "latchkey-svc"
	scramPassword = "correct horse battery staple"
)

func startSecureBroker(t *testing.T) *secureBroker {
	t.Helper()
	ca, err := devpki.NewCA("kafkax test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Server("127.0.0.1", "kafka.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kafkaserver.Start(kafkaserver.Options{
		Partitions: 2,
		Users:      []kafkaserver.User{{Mechanism: "SCRAM-SHA-512", Username: scramUser, Password: scramPassword}},
		TLS:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &secureBroker{srv: srv, ca: ca}
}

// cluster returns the broker as a client configured with password and a TLS config trusting the CA.
func (b *secureBroker) cluster(t *testing.T, password string) kafkax.Cluster {
	t.Helper()
	mech, err := scram.Mechanism(scram.SHA512, scramUser, password)
	if err != nil {
		t.Fatal(err)
	}
	return kafkax.Cluster{
		Brokers: b.srv.Brokers(),
		TLS:     &tls.Config{RootCAs: b.ca.Pool(), MinVersion: tls.VersionTLS12},
		SASL:    mech,
	}
}

// TestSCRAMAndTLS runs every kind of connection kafkax makes against a broker that speaks only TLS
// and requires SCRAM-SHA-512: topic creation, Ping, the producer, a consumer group and a broadcast
// reader.
func TestSCRAMAndTLS(t *testing.T) {
	t.Parallel()
	b := startSecureBroker(t)
	cluster := b.cluster(t, scramPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if err := kafkax.Ping(ctx, cluster); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	const prefix = "secure."
	if err := kafkax.EnsureTopics(ctx, cluster, prefix, 2, events.TopicOTPDispatch, events.TopicSessionEvents); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	producer := kafkax.NewProducer(cluster, prefix)
	t.Cleanup(func() { _ = producer.Close() })

	grouped, broadcast := newReceived(), newReceived()
	runInBackground(t, "RunConsumer", func(ctx context.Context) error {
		return kafkax.RunConsumer(ctx, kafkax.ConsumerConfig{
			Cluster: cluster, GroupID: "secure", Topic: kafkax.Topic(prefix, events.TopicOTPDispatch), Logger: quietLogger(),
		}, grouped.handle)
	})
	runInBackground(t, "RunBroadcast", func(ctx context.Context) error {
		return kafkax.RunBroadcast(ctx, cluster, kafkax.Topic(prefix, events.TopicSessionEvents), time.Now().Add(-time.Minute), broadcast.handle)
	})

	var sent []events.Envelope
	for _, acc := range []string{"a", "b", "c", "d"} {
		ev := newEvent(t, acc)
		sent = append(sent, ev)
		for _, topic := range []string{events.TopicOTPDispatch, events.TopicSessionEvents} {
			if err := producer.Publish(ctx, topic, ev); err != nil {
				t.Fatalf("Publish to %s: %v", topic, err)
			}
		}
	}
	grouped.waitFor(t, len(sent), 45*time.Second)
	broadcast.waitFor(t, len(sent), 45*time.Second)
	for _, ev := range sent {
		if grouped.count(ev.EventID) == 0 || broadcast.count(ev.EventID) == 0 {
			t.Errorf("event %s: consumer group saw it %d times, broadcast %d, want both at least once",
				ev.EventID, grouped.count(ev.EventID), broadcast.count(ev.EventID))
		}
	}
}

// TestSecureClusterRefusals shows that a wrong password or an untrusted broker certificate is an
// error marked ErrAuthentication, returned well within the callers' deadline (not a hang), from Ping,
// EnsureTopics and Publish alike.
func TestSecureClusterRefusals(t *testing.T) {
	t.Parallel()
	b := startSecureBroker(t)
	other, err := devpki.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	wrongPassword := b.cluster(t, "wrong password")
	untrusted := b.cluster(t, scramPassword)
	untrusted.TLS = &tls.Config{RootCAs: other.Pool(), MinVersion: tls.VersionTLS12}

	tests := []struct {
		name    string
		cluster kafkax.Cluster
	}{
		{name: "wrong password", cluster: wrongPassword},
		{name: "untrusted certificate", cluster: untrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"Ping", func(ctx context.Context) error { return kafkax.Ping(ctx, tc.cluster) }},
				{"EnsureTopics", func(ctx context.Context) error {
					return kafkax.EnsureTopics(ctx, tc.cluster, "refused.", 1, events.TopicOTPDispatch)
				}},
				{"Publish", func(ctx context.Context) error {
					p := kafkax.NewProducer(tc.cluster, "refused.")
					defer func() { _ = p.Close() }()
					return p.Publish(ctx, events.TopicOTPDispatch, newEvent(t, "x"))
				}},
			}
			for _, c := range calls {
				// The deadline is generous; failing it means the call hung until cancelled instead of
				// reporting the refusal, which the errors.Is check below then catches.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := c.call(ctx)
				expired := ctx.Err() != nil
				cancel()
				if !errors.Is(err, kafkax.ErrAuthentication) || expired {
					t.Errorf("%s: err = %v (deadline expired: %v), want an error matching ErrAuthentication before the deadline", c.name, err, expired)
				}
			}
		})
	}
}

// TestMutualTLSFromConfiguration builds the cluster the way a service does, from KAFKA_* variables
// (CA file, client certificate and key files, server name, SCRAM-SHA-256), against a broker that
// requires a client certificate signed by its CA and whose certificate names only kafka.test: the
// configured server name is what makes the connection verify, and a missing client certificate is
// refused as an authentication failure.
func TestMutualTLSFromConfiguration(t *testing.T) {
	t.Parallel()
	ca, err := devpki.NewCA("mtls test CA")
	if err != nil {
		t.Fatal(err)
	}
	serverPair, err := ca.Server("kafka.test")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := serverPair.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := ca.Client("identity")
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile, err := devpki.WriteFiles(t.TempDir(), "identity", ca, clientPair)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kafkaserver.Start(kafkaserver.Options{
		Partitions: 1,
		Users:      []kafkaserver.User{{Mechanism: "SCRAM-SHA-256", Username: "identity", Password: scramPassword}},
		TLS: &tls.Config{
			Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)

	full := map[string]string{
		"INTERNAL_API_TOKEN": "0123456789abcdef0123", "KAFKA_BROKERS": strings.Join(srv.Brokers(), ","),
		"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_CA_FILE": caFile, "KAFKA_TLS_CERT_FILE": certFile, "KAFKA_TLS_KEY_FILE": keyFile,
		"KAFKA_TLS_SERVER_NAME": "kafka.test",
		"KAFKA_SASL_MECHANISM":  "SCRAM-SHA-256", "KAFKA_SASL_USERNAME": "identity", "KAFKA_SASL_PASSWORD": scramPassword,
	}
	without := func(keys ...string) map[string]string {
		m := maps.Clone(full)
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	tests := []struct {
		name   string
		env    map[string]string
		wantOK bool
	}{
		{name: "everything configured", env: full, wantOK: true},
		{name: "no server name: the certificate names kafka.test, not 127.0.0.1", env: without("KAFKA_TLS_SERVER_NAME")},
		{name: "no client certificate", env: without("KAFKA_TLS_CERT_FILE", "KAFKA_TLS_KEY_FILE")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := config.NewLoaderFrom(tc.env)
			base := l.LoadBase("identity", ":0", ":0")
			if err := l.Err(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pingErr := kafkax.Ping(ctx, base.Kafka)
			topicsErr := kafkax.EnsureTopics(ctx, base.Kafka, "mtls.", 1, events.TopicAccountEvents)
			if tc.wantOK {
				if pingErr != nil || topicsErr != nil {
					t.Fatalf("Ping = %v, EnsureTopics = %v, want both to succeed", pingErr, topicsErr)
				}
				return
			}
			for name, err := range map[string]error{"Ping": pingErr, "EnsureTopics": topicsErr} {
				if !errors.Is(err, kafkax.ErrAuthentication) {
					t.Errorf("%s = %v, want an error matching ErrAuthentication", name, err)
				}
			}
		})
	}
}
