package telemetry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

// syncBuffer is a bytes.Buffer safe for the loggers' concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records parses every line as a JSON object; a line that is not one fails the test.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		out = append(out, rec)
	}
	return out
}

// Not parallel: RouteLogs changes the process's default loggers, restored at the end.
func TestRouteLogs(t *testing.T) {
	prevSlog, prevOtelHandler := slog.Default(), otel.GetErrorHandler()
	prevFlags, prevWriter := log.Flags(), log.Writer()
	t.Cleanup(func() {
		slog.SetDefault(prevSlog)
		log.SetOutput(prevWriter)
		log.SetFlags(prevFlags)
		otel.SetErrorHandler(prevOtelHandler)
	})

	var buf syncBuffer
	telemetry.RouteLogs(telemetry.NewLogger(&buf, "identity", slog.LevelInfo))

	log.Printf("from the log package %d", 42)
	otel.Handle(errors.New("exporter unreachable"))
	slog.Warn("from slog's default logger")

	recs := buf.records(t)
	want := []struct{ msg, level, field, value string }{
		{"from the log package 42", "INFO", "", ""},
		{"opentelemetry", "ERROR", "err", "exporter unreachable"},
		{"from slog's default logger", "WARN", "", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d records %v, want %d", len(recs), recs, len(want))
	}
	for i, w := range want {
		rec := recs[i]
		if rec["msg"] != w.msg || rec["level"] != w.level || rec["service"] != "identity" {
			t.Errorf("record %d = %v, want msg %q level %s service identity", i, rec, w.msg, w.level)
		}
		if w.field != "" && rec[w.field] != w.value {
			t.Errorf("record %d: %s = %v, want %q", i, w.field, rec[w.field], w.value)
		}
	}
}
