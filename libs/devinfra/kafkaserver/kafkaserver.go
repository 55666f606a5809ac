// Package kafkaserver runs an in-process Kafka-compatible broker (franz-go's kfake) for `make run`
// and for tests. Clients talk to it over the Kafka wire protocol like to a one-broker cluster.
package kafkaserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultPartitions is the partition count of auto-created topics when Options.Partitions is 0.
const DefaultPartitions = 3

// Options configures a Server.
type Options struct {
	// Dir is where the broker keeps its log and committed offsets, so both survive a restart.
	// Empty keeps everything in memory.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Partitions is the partition count of auto-created and seeded topics; 0 means DefaultPartitions.
	Partitions int32
	// Topics are created at start-up if they do not exist yet.
	Topics []string
	// Users, when not empty, make the broker require SASL: a client authenticates as one of them
	// with that user's mechanism. Empty means no authentication.
	Users []User
	// TLS, when not nil, makes the broker speak TLS only, with this configuration (its certificate).
	TLS *tls.Config
}

// User is a SASL user of the broker.
type User struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	Username  string
	Password  string
}

// Server is a running one-broker cluster.
type Server struct {
	cluster *kfake.Cluster
	brokers []string
	opts    Options
}

// Start starts a broker listening on 127.0.0.1. Topics are auto-created on a metadata request that
// asks for it (kafka-go readers do; kafkax producers do not), with Options.Partitions partitions.
func Start(opts Options) (*Server, error) {
	if opts.Partitions <= 0 {
		opts.Partitions = DefaultPartitions
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(opts.Port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(opts.Partitions)),
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(opts.Partitions, opts.Topics...))
	}
	if opts.Dir != "" {
		kopts = append(kopts, kfake.DataDir(opts.Dir))
	}
	if len(opts.Users) > 0 {
		kopts = append(kopts, kfake.EnableSASL())
		for _, u := range opts.Users {
			kopts = append(kopts, kfake.Superuser(u.Mechanism, u.Username, u.Password))
		}
	}
	if opts.TLS != nil {
		kopts = append(kopts, kfake.TLS(opts.TLS))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkaserver: start kfake on port %d: %w", opts.Port, err)
	}
	s := &Server{cluster: cluster, brokers: cluster.ListenAddrs(), opts: opts}

	// kfake seeds topics only into a fresh data directory; after a restart, create any seeded topic
	// the persisted state does not have yet.
	if opts.Dir != "" && len(opts.Topics) > 0 {
		if err := s.createTopics(int(opts.Partitions), opts.Topics); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// createTopics creates the missing topics among names.
func (s *Server) createTopics(partitions int, names []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dialer, err := s.selfDialer()
	if err != nil {
		return err
	}
	conn, err := dialer.DialContext(ctx, "tcp", s.brokers[0])
	if err != nil {
		return fmt.Errorf("kafkaserver: dial %s: %w", s.brokers[0], err)
	}
	defer func() { _ = conn.Close() }()
	configs := make([]kafka.TopicConfig, len(names))
	for i, name := range names {
		configs[i] = kafka.TopicConfig{Topic: name, NumPartitions: partitions, ReplicationFactor: 1}
	}
	if err := conn.CreateTopics(configs...); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("kafkaserver: create seeded topics: %w", err)
	}
	return nil
}

// selfDialer returns a dialer for the broker's own seeding connection: the first user's credentials,
// and TLS that trusts exactly the certificate the broker presents (pinned, no CA needed).
func (s *Server) selfDialer() (*kafka.Dialer, error) {
	d := &kafka.Dialer{Timeout: 5 * time.Second}
	if len(s.opts.Users) > 0 {
		u := s.opts.Users[0]
		switch u.Mechanism {
		case "PLAIN":
			d.SASLMechanism = plain.Mechanism{Username: u.Username, Password: u.Password}
		case "SCRAM-SHA-256", "SCRAM-SHA-512":
			algo := scram.SHA256
			if u.Mechanism == "SCRAM-SHA-512" {
				algo = scram.SHA512
			}
			m, err := scram.Mechanism(algo, u.Username, u.Password)
			if err != nil {
				return nil, fmt.Errorf("kafkaserver: SASL user %s: %w", u.Username, err)
			}
			d.SASLMechanism = m
		default:
			return nil, fmt.Errorf("kafkaserver: SASL user %s: unknown mechanism %q", u.Username, u.Mechanism)
		}
	}
	if s.opts.TLS != nil {
		if len(s.opts.TLS.Certificates) == 0 || len(s.opts.TLS.Certificates[0].Certificate) == 0 {
			return nil, errors.New("kafkaserver: Options.TLS has no certificate")
		}
		want := s.opts.TLS.Certificates[0].Certificate[0]
		d.TLS = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: true, // replaced by the pin below: the broker talks to itself
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 || !bytes.Equal(raw[0], want) {
					return errors.New("kafkaserver: the broker presented another certificate")
				}
				return nil
			},
		}
	}
	return d, nil
}

// Brokers returns the bootstrap addresses ("127.0.0.1:port").
func (s *Server) Brokers() []string { return append([]string(nil), s.brokers...) }

// Port returns the TCP port the broker listens on, so a restart can reuse it.
func (s *Server) Port() int {
	_, port, err := net.SplitHostPort(s.brokers[0])
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(port)
	return p
}

// Close stops the broker; with a Dir it first writes its state to disk.
func (s *Server) Close() { s.cluster.Close() }
