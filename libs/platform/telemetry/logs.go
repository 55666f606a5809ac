package telemetry

import (
	"log/slog"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
)

// RouteLogs makes l the one way out for every log line of the process: it becomes slog's default
// logger, which the standard library's log package then writes through (log.Printf, and libraries
// that log with it, such as fasthttp), and the OpenTelemetry SDK's logger and error handler (a trace
// exporter that cannot reach its collector). The platform's Kafka and MongoDB plumbing logs to slog's
// default logger, so after RouteLogs every line is a JSON record of l. main calls it once, first.
func RouteLogs(l *slog.Logger) {
	slog.SetDefault(l)
	otel.SetLogger(logr.FromSlogHandler(l.Handler()))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		l.Error("opentelemetry", "err", err)
	}))
}
