package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
)

func TestLoggerCarriesRequestAndTraceIDs(t *testing.T) {
	shutdown, err := telemetry.SetupTracing(context.Background(), "test", "")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())

	var buf bytes.Buffer
	log := telemetry.NewLogger(&buf, "identity", slog.LevelInfo)
	ctx := telemetry.WithRequestID(context.Background(), "req-1")
	ctx, span := telemetry.Tracer("test").Start(ctx, "op")
	log.InfoContext(ctx, "hello", "k", "v")
	span.End()
	log.DebugContext(ctx, "below the level")

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("want exactly one JSON record, got %q: %v", buf.String(), err)
	}
	want := map[string]any{"msg": "hello", "service": "identity", "request_id": "req-1", "k": "v", "trace_id": span.SpanContext().TraceID().String()}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v (record %v)", k, rec[k], v, rec)
		}
	}
	if rec["span_id"] == nil {
		t.Errorf("span_id missing: %v", rec)
	}
}

func TestLoggerWithoutContextValues(t *testing.T) {
	var buf bytes.Buffer
	telemetry.NewLogger(&buf, "session", slog.LevelInfo).Info("plain")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["request_id"]; ok {
		t.Errorf("request_id present without a request: %v", rec)
	}
	if _, ok := rec["trace_id"]; ok {
		t.Errorf("trace_id present without a span: %v", rec)
	}
}
