package mongox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/latchkey/latchkey/libs/devinfra/testenv"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// With the driver's command log turned on (MONGODB_LOG_COMMAND), its lines are JSON records of slog's
// default logger, without the command and reply documents. Not parallel: it sets an environment
// variable and slog's default logger.
func TestDriverLogsGoThroughSlog(t *testing.T) {
	t.Setenv("MONGODB_LOG_COMMAND", "debug")
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	var buf lockedBuffer
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))

	env := testenv.New(t)
	ctx := context.Background()
	client, db, err := mongox.Connect(ctx, env.MongoURI, env.DBPrefix+"logs")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(ctx) }()
	if _, err := db.Collection("c").InsertOne(ctx, bson.M{"secret": "s3cret-value"}); err != nil {
		t.Fatal(err)
	}

	out := buf.String()
	if strings.Contains(out, "s3cret-value") {
		t.Errorf("driver log shows a document: %s", out)
	}
	var commands int
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "mongodb driver: Command") && rec["commandName"] == "insert" {
			commands++
		}
	}
	if commands == 0 {
		t.Errorf("no driver log record of the insert command in %s", out)
	}
}
