package kafkax

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// kafka-go's own log lines (the writer's and the readers') come out as records of the service's JSON
// logger. Not parallel: it replaces slog's default logger.
func TestKafkaClientLogsAreJSON(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	slog.SetDefault(log)

	p := NewProducer(Cluster{Brokers: []string{"127.0.0.1:1"}}, "")
	defer func() { _ = p.Close() }()
	p.writer.ErrorLogger.Printf("error writing messages to %s", "topic-a")
	p.writer.Logger.Printf("writing %d messages", 3)
	kafkaLogger(log, "kafka reader: ").Printf("joined group %s", "g")

	want := []struct{ level, msg string }{
		{"WARN", "kafka writer: error writing messages to topic-a"},
		{"DEBUG", "kafka writer: writing 3 messages"},
		{"DEBUG", "kafka reader: joined group g"},
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines %q, want %d", len(lines), lines, len(want))
	}
	for i, w := range want {
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %q", i, lines[i])
		}
		if rec["level"] != w.level || rec["msg"] != w.msg {
			t.Errorf("line %d = %v, want level %s msg %q", i, rec, w.level, w.msg)
		}
	}
}
