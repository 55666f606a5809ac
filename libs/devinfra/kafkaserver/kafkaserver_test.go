package kafkaserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/latchkey/latchkey/libs/devinfra/kafkaserver"
)

func start(t *testing.T, opts kafkaserver.Options) *kafkaserver.Server {
	t.Helper()
	srv, err := kafkaserver.Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func produce(t *testing.T, brokers []string, topic string, values ...string) {
	t.Helper()
	// A transport of its own: kafka-go's default transport caches metadata per address for 6s, which
	// would hide topics created after a restart on the same port.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Transport:    transport,
		Topic:        topic,
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		Balancer:     &kafka.Hash{},
	}
	defer func() { _ = w.Close() }()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i] = kafka.Message{Key: []byte(v), Value: []byte(v)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
}

// consume reads n messages with a consumer group, committing each, and returns their values.
func consume(t *testing.T, brokers []string, group, topic string, n int) []string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        brokers,
		GroupID:        group,
		Topic:          topic,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		MaxWait:        100 * time.Millisecond,
		ReadBackoffMax: 100 * time.Millisecond,
		StartOffset:    kafka.FirstOffset,
	})
	defer func() { _ = r.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("FetchMessage after %v: %v", got, err)
		}
		got = append(got, string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("CommitMessages: %v", err)
		}
	}
	return got
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, v := range a {
		seen[v]++
	}
	for _, v := range b {
		seen[v]--
	}
	for _, c := range seen {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestProduceConsumeWithGroup(t *testing.T) {
	tests := []struct {
		name  string
		opts  kafkaserver.Options
		topic string
	}{
		{name: "seeded topic", opts: kafkaserver.Options{Topics: []string{"seeded"}}, topic: "seeded"},
		{name: "auto-created topic", opts: kafkaserver.Options{}, topic: "auto"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := start(t, tc.opts)
			if tc.opts.Topics == nil {
				// A reader's metadata request creates the topic; the writer does not.
				conn, err := kafka.Dial("tcp", srv.Brokers()[0])
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if _, err := conn.ReadPartitions(tc.topic); err != nil {
					t.Fatalf("ReadPartitions: %v", err)
				}
				_ = conn.Close()
			}
			want := []string{"a", "b", "c", "d"}
			produce(t, srv.Brokers(), tc.topic, want...)
			if got := consume(t, srv.Brokers(), "g1", tc.topic, len(want)); !sameSet(got, want) {
				t.Errorf("consumed %v, want %v", got, want)
			}
			produce(t, srv.Brokers(), tc.topic, "e")
			if got := consume(t, srv.Brokers(), "g1", tc.topic, 1); !sameSet(got, []string{"e"}) {
				t.Errorf("after commit consumed %v, want [e]", got)
			}
		})
	}
}

func TestCreateTopicsAndPartitions(t *testing.T) {
	t.Parallel()
	srv := start(t, kafkaserver.Options{Partitions: 2})
	conn, err := kafka.Dial("tcp", srv.Brokers()[0])
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer func() { _ = conn.Close() }()
	ctrl, err := conn.Controller()
	if err != nil {
		t.Fatalf("Controller: %v", err)
	}
	cc, err := kafka.Dial("tcp", fmt.Sprintf("%s:%d", ctrl.Host, ctrl.Port))
	if err != nil {
		t.Fatalf("Dial controller: %v", err)
	}
	defer func() { _ = cc.Close() }()
	for i := 0; i < 2; i++ { // the second call finds the topic already there
		if err := cc.CreateTopics(kafka.TopicConfig{Topic: "created", NumPartitions: 5, ReplicationFactor: 1}); err != nil {
			t.Fatalf("CreateTopics #%d: %v", i+1, err)
		}
	}
	tests := []struct {
		topic string
		want  int
	}{
		{topic: "created", want: 5},
		{topic: "auto-default", want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			parts, err := conn.ReadPartitions(tc.topic)
			if err != nil {
				t.Fatalf("ReadPartitions: %v", err)
			}
			if len(parts) != tc.want {
				t.Errorf("partitions = %d, want %d", len(parts), tc.want)
			}
		})
	}
}

func TestWriterDoesNotAutoCreate(t *testing.T) {
	t.Parallel()
	srv := start(t, kafkaserver.Options{})
	w := &kafka.Writer{Addr: kafka.TCP(srv.Brokers()...), Topic: "missing", RequiredAcks: kafka.RequireAll, MaxAttempts: 2, WriteBackoffMax: 50 * time.Millisecond}
	defer func() { _ = w.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err == nil {
		t.Fatal("write to a missing topic succeeded, want an error")
	}
}

func TestDataAndOffsetsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := kafkaserver.Start(kafkaserver.Options{Dir: dir, Partitions: 1, Topics: []string{"kept"}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	port := srv.Port()
	produce(t, srv.Brokers(), "kept", "one", "two")
	if got := consume(t, srv.Brokers(), "g", "kept", 1); len(got) != 1 || got[0] != "one" {
		t.Fatalf("consumed %v, want [one]", got)
	}
	srv.Close()

	srv = start(t, kafkaserver.Options{Dir: dir, Port: port, Partitions: 1, Topics: []string{"kept", "new"}})
	if got, want := srv.Brokers()[0], fmt.Sprintf("127.0.0.1:%d", port); got != want {
		t.Errorf("broker after restart = %s, want %s", got, want)
	}
	// The group committed one message before the restart; it gets the other one now.
	got := consume(t, srv.Brokers(), "g", "kept", 1)
	produce(t, srv.Brokers(), "kept", "three")
	got = append(got, consume(t, srv.Brokers(), "g", "kept", 1)...)
	if want := []string{"two", "three"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("after restart consumed %v, want %v", got, want)
	}
	produce(t, srv.Brokers(), "new", "x") // the seeded topic added after the restart exists
}
