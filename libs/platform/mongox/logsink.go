package mongox

import (
	"context"
	"log/slog"

	"go.mongodb.org/mongo-driver/mongo/options"
)

// driverLogs sends the MongoDB driver's own log messages to slog's default logger (the service's JSON
// logger, see telemetry.RouteLogs) instead of the driver's stderr writer. The driver stays silent
// unless an operator turns a component on with its environment variables (MONGODB_LOG_ALL,
// MONGODB_LOG_COMMAND, MONGODB_LOG_TOPOLOGY, MONGODB_LOG_SERVER_SELECTION, MONGODB_LOG_CONNECTION).
func driverLogs() *options.LoggerOptions {
	return options.Logger().SetSink(slogSink{})
}

// redactedKeys are the driver's log fields that carry documents: commands and replies hold password
// hashes, code HMACs and tokens, which must not reach a log line.
var redactedKeys = map[string]bool{"command": true, "reply": true}

// slogSink is the driver's options.LogSink on slog.Default(). The driver's level 1 is info, 2 debug.
type slogSink struct{}

func (slogSink) Info(level int, msg string, keysAndValues ...any) {
	l := slog.LevelDebug
	if level <= 1 {
		l = slog.LevelInfo
	}
	slog.Default().Log(context.Background(), l, "mongodb driver: "+msg, attrs(keysAndValues)...)
}

func (slogSink) Error(err error, msg string, keysAndValues ...any) {
	slog.Default().Log(context.Background(), slog.LevelError, "mongodb driver: "+msg, append(attrs(keysAndValues), "err", err)...)
}

// attrs drops the redacted fields from the driver's key/value list.
func attrs(kv []any) []any {
	out := make([]any, 0, len(kv))
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok && redactedKeys[k] {
			continue
		}
		out = append(out, kv[i], kv[i+1])
	}
	return out
}
