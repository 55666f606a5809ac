// Command identity runs the identity service: accounts, credentials, OTP challenges, registration,
// login and trusted devices (see docs/architecture.md for its ports, configuration and events).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey/latchkey/libs/platform/telemetry"
	"github.com/latchkey/latchkey/services/identity/internal/config"
)

func main() {
	log := telemetry.NewLogger(os.Stdout, config.Service, slog.LevelInfo)
	telemetry.RouteLogs(log) // the log package, OpenTelemetry, Kafka and MongoDB clients: JSON too
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, log)
	stop()
	if err != nil {
		log.Error("identity stopped", "err", err)
		os.Exit(1)
	}
}
