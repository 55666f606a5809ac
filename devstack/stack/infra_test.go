package stack

import (
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dialable reports whether a TCP connection to addr succeeds.
func dialable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func mongoAddr(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("MongoURI %q: %v", uri, err)
	}
	return u.Host
}

func TestEmbeddedInfra(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded MongoDB server and Kafka broker")
	}
	persistent := t.TempDir()
	tests := []struct {
		name    string
		dataDir string
	}{
		{name: "persistent data dir", dataDir: persistent},
		{name: "temporary data dir", dataDir: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fakeConfig(nil, nil)
			cfg.MongoURI, cfg.Brokers, cfg.DataDir = "", nil, tt.dataDir
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			st, err := Start(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			stopped := false
			defer func() {
				if !stopped {
					_ = st.Stop(context.Background())
				}
			}()

			dataDir := st.DataDir()
			if tt.dataDir != "" && dataDir != tt.dataDir {
				t.Fatalf("DataDir() = %q, want %q", dataDir, tt.dataDir)
			}
			for _, sub := range []string{"mongo", "kafka"} {
				if fi, err := os.Stat(filepath.Join(dataDir, sub)); err != nil || !fi.IsDir() {
					t.Fatalf("%s/ missing under the data directory: %v", sub, err)
				}
			}
			mongo, brokers := mongoAddr(t, st.MongoURI()), st.Brokers()
			if len(brokers) == 0 || !strings.HasPrefix(st.MongoURI(), "mongodb://127.0.0.1:") {
				t.Fatalf("MongoURI() = %q, Brokers() = %v", st.MongoURI(), brokers)
			}
			_, r := fetch(t, st.ServiceURL(Profile)+"/", nil)
			if r.Env["MONGODB_URI"] != st.MongoURI() || r.Env["KAFKA_BROKERS"] != strings.Join(brokers, ",") {
				t.Fatalf("service got MONGODB_URI=%q KAFKA_BROKERS=%q", r.Env["MONGODB_URI"], r.Env["KAFKA_BROKERS"])
			}

			outages := []struct {
				name  string
				addr  string
				stop  func() error
				start func() error
			}{
				{name: "kafka", addr: brokers[0], stop: st.StopKafka, start: st.StartKafka},
				{name: "mongo", addr: mongo, stop: st.StopMongo, start: func() error { return st.StartMongo(ctx) }},
			}
			for _, o := range outages {
				if !dialable(o.addr) {
					t.Fatalf("%s not reachable at %s", o.name, o.addr)
				}
				if err := o.stop(); err != nil {
					t.Fatalf("stop %s: %v", o.name, err)
				}
				if dialable(o.addr) {
					t.Fatalf("%s still reachable at %s after stopping it", o.name, o.addr)
				}
				if err := o.start(); err != nil {
					t.Fatalf("start %s: %v", o.name, err)
				}
				if !dialable(o.addr) {
					t.Fatalf("%s not reachable at %s after starting it again", o.name, o.addr)
				}
			}
			if got := st.Brokers(); strings.Join(got, ",") != strings.Join(brokers, ",") {
				t.Fatalf("brokers changed across a restart: %v -> %v", brokers, got)
			}

			stopped = true
			if err := st.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if dialable(mongo) || dialable(brokers[0]) {
				t.Fatal("embedded servers still reachable after Stop")
			}
			_, err = os.Stat(dataDir)
			if tt.dataDir == "" && !os.IsNotExist(err) {
				t.Fatalf("temporary data directory %s not removed: %v", dataDir, err)
			}
			if tt.dataDir != "" && err != nil {
				t.Fatalf("persistent data directory removed: %v", err)
			}
		})
	}
}
