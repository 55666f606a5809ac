package httpx_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/latchkey/latchkey/libs/platform/httpx"
)

// The location header is believed only from a trusted proxy (app.Test's peer is 0.0.0.0), and cut
// to MaxLocation characters.
func TestClientLocation(t *testing.T) {
	long := strings.Repeat("é", httpx.MaxLocation+10)
	tests := []struct {
		name    string
		header  string // Options.LocationHeader
		trusted []string
		value   string
		want    string
	}{
		{"from a trusted proxy", "X-Client-Geo", []string{"0.0.0.0/32"}, " Nairobi, KE ", "Nairobi, KE"},
		{"from anyone else", "X-Client-Geo", []string{"10.0.0.0/8"}, "Nairobi, KE", ""},
		{"no header configured", "", []string{"0.0.0.0/32"}, "Nairobi, KE", ""},
		{"cut to MaxLocation characters", "X-Client-Geo", []string{"0.0.0.0/32"}, long, strings.Repeat("é", httpx.MaxLocation)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := httpx.NewApp(httpx.Options{Service: "test", Logger: slog.New(slog.DiscardHandler), TrustedProxies: tc.trusted, LocationHeader: tc.header})
			if err != nil {
				t.Fatal(err)
			}
			app.Get("/where", func(c *fiber.Ctx) error { return c.SendString(httpx.ClientLocation(c)) })
			req := httptest.NewRequest("GET", "/where", nil)
			req.Header.Set("X-Client-Geo", tc.value)
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if string(raw) != tc.want {
				t.Errorf("ClientLocation = %q, want %q", raw, tc.want)
			}
		})
	}
}
