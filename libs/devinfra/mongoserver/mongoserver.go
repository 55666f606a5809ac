// Package mongoserver runs an embedded MongoDB-compatible server (FerretDB v1 with its SQLite backend)
// inside the current process, for `make run` and for tests.
//
// FerretDB v1 speaks the MongoDB wire protocol but lacks TTL and partial indexes, collation,
// transactions and change streams. Its updates (including findAndModify) are a read followed by a
// write rather than one atomic step; the server therefore runs FerretDB behind a proxy that lets one
// write command run at a time (serialize.go), so single-document writes are atomic as on MongoDB.
package mongoserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
)

// startTimeout bounds how long Start waits for the server to answer a ping.
const startTimeout = 30 * time.Second

// Options configures a Server.
type Options struct {
	// Dir is the directory holding the SQLite files (one per database). It is created if missing.
	// It must be a real directory: FerretDB's in-memory SQLite mode hangs.
	Dir string
	// Addr is the TCP address to listen on; "127.0.0.1:0" (the default) picks a free port.
	Addr string
	// Logger receives FerretDB's own logs; nil discards them (FerretDB is chatty).
	Logger *slog.Logger
	// OnCommand, when set, is called with every command a client sends (before it runs): the
	// database, the command's name and the collection it names ("" for commands on none). The bench
	// counts round trips with it.
	OnCommand func(db, command, collection string)
}

// Server is a running embedded FerretDB instance.
type Server struct {
	uri    string
	proxy  *serializer
	cancel context.CancelFunc
	done   chan struct{}
	runErr error
}

// Start starts a server and returns once it accepts connections and answers a ping. The server runs
// until Close is called; ctx only bounds the start-up.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("mongoserver: Options.Dir is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("mongoserver: resolve data dir %q: %w", opts.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("mongoserver: create data dir: %w", err)
	}

	// Clients reach FerretDB through the serializing proxy on opts.Addr; FerretDB itself listens on a
	// free loopback port.
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("mongoserver: listen on %s: %w", opts.Addr, err)
	}
	// FerretDB listens in New, so with port 0 the chosen address is known before Run.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("mongoserver: start FerretDB: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.runErr = f.Run(runCtx)
	}()

	// MongoDBURI blocks until the listener is up; it is after New, so it does not block here.
	backend, err := url.Parse(f.MongoDBURI())
	if err != nil {
		_ = ln.Close()
		_ = s.Close()
		return nil, fmt.Errorf("mongoserver: FerretDB URI: %w", err)
	}
	s.proxy = newSerializer(ln, backend.Host)
	s.proxy.onCommand = opts.OnCommand
	s.uri = withQuery("mongodb://" + ln.Addr().String() + "/")

	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// withQuery adds the URI options FerretDB needs: it is a single server, not a replica set, and it
// does not support retryable writes (they need sessions with transaction numbers).
func withQuery(uri string) string {
	return uri + "?directConnection=true&retryWrites=false"
}

// waitReady waits until the port accepts connections and a ping succeeds.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	client, err := mongo.Connect(ctx, options.Client().ApplyURI(s.uri).SetServerSelectionTimeout(time.Second))
	if err != nil {
		return fmt.Errorf("mongoserver: connect to %s: %w", s.uri, err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()

	for {
		pingErr := client.Ping(ctx, readpref.Primary())
		if pingErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mongoserver: server at %s did not answer a ping: %w", s.uri, pingErr)
		case <-s.done:
			return fmt.Errorf("mongoserver: server stopped during start-up: %w", s.runErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URI returns a mongodb:// URI for the server, with the options the v1 Go driver needs for it.
func (s *Server) URI() string { return s.uri }

// Close stops the server and waits until it has closed its listener, connections and SQLite files.
func (s *Server) Close() error {
	if s.proxy != nil {
		s.proxy.close()
	}
	s.cancel()
	<-s.done
	if s.runErr != nil {
		return fmt.Errorf("mongoserver: run: %w", s.runErr)
	}
	return nil
}
