package mongox_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/libs/devinfra/devpki"
	"github.com/latchkey/latchkey/libs/platform/mongox"
)

// TestClientOptionsProductionURIs shows that a production URI (credentials with reserved characters,
// authSource, TLS with a CA file and a client certificate, replicaSet, readPreference, write concern)
// reaches the driver as the driver defines it, and that a URI the driver refuses (including an
// unresolvable mongodb+srv name) gives an error that does not quote it.
func TestClientOptionsProductionURIs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, err := devpki.NewCA("mongo test CA")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Client("identity")
	if err != nil {
		t.Fatal(err)
	}
	caFile, _, _, err := devpki.WriteFiles(dir, "client", ca, pair)
	if err != nil {
		t.Fatal(err)
	}
	// tlsCertificateKeyFile holds the certificate and its key in one PEM file.
	certKeyFile := filepath.Join(dir, "client-combined.pem")
	if err := os.WriteFile(certKeyFile, append(append([]byte{}, pair.CertPEM...), pair.KeyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}

	const password = "p@ss:w/rd%?"
	uri := "mongodb://latchkey-identity:" + url.QueryEscape(password) + "@mongo-0.db:27017,mongo-1.db:27017,mongo-2.db:27017/" +
		"?authSource=admin&replicaSet=rs0&tls=true&tlsCAFile=" + url.QueryEscape(caFile) +
		"&tlsCertificateKeyFile=" + url.QueryEscape(certKeyFile) + "&readPreference=primary&w=majority&retryWrites=true"

	opts, err := mongox.ClientOptions(uri)
	if err != nil {
		t.Fatalf("ClientOptions: %v", err)
	}
	if opts.Auth == nil || opts.Auth.Username != "latchkey-identity" || opts.Auth.Password != password || opts.Auth.AuthSource != "admin" {
		t.Errorf("credentials = %+v, want user latchkey-identity, the decoded password, authSource admin", opts.Auth)
	}
	if opts.ReplicaSet == nil || *opts.ReplicaSet != "rs0" {
		t.Errorf("replicaSet = %v, want rs0", opts.ReplicaSet)
	}
	if want := []string{"mongo-0.db:27017", "mongo-1.db:27017", "mongo-2.db:27017"}; !slices.Equal(opts.Hosts, want) {
		t.Errorf("hosts = %v, want %v", opts.Hosts, want)
	}
	if opts.TLSConfig == nil || opts.TLSConfig.RootCAs == nil || len(opts.TLSConfig.Certificates) != 1 {
		t.Errorf("TLS = %+v, want the CA file as roots and one client certificate", opts.TLSConfig)
	}
	if opts.RetryWrites == nil || !*opts.RetryWrites {
		t.Errorf("retryWrites = %v, want true", opts.RetryWrites)
	}

	refused := []struct {
		name string
		uri  string
	}{
		{name: "mongodb+srv name that does not resolve", uri: "mongodb+srv://latchkey:s3cret-srv@cluster0.invalid/?authSource=admin&tls=true"},
		{name: "TLS CA file missing", uri: "mongodb://latchkey:s3cret-ca@db:27017/?tls=true&tlsCAFile=/nonexistent/ca.pem"},
		{name: "replicaSet with directConnection to several hosts", uri: "mongodb://latchkey:s3cret-rs@a:27017,b:27017/?replicaSet=rs0&directConnection=true"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mongox.ClientOptions(tc.uri)
			if err == nil {
				t.Fatal("ClientOptions accepted the URI, want an error")
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "latchkey:") {
				t.Errorf("error quotes the URI: %v", err)
			}
			if !strings.Contains(err.Error(), "MONGODB_URI") {
				t.Errorf("error %q does not name MONGODB_URI", err)
			}
		})
	}
}
