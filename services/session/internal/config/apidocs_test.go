package config_test

import (
	"strings"
	"testing"

	platformconfig "github.com/latchkey/latchkey/libs/platform/config"
	"github.com/latchkey/latchkey/services/session/internal/config"
)

func TestAPIDocsEnabled(t *testing.T) {
	base := map[string]string{"INTERNAL_API_TOKEN": "0123456789abcdef0123", "IDENTITY_INTERNAL_URL": "http://127.0.0.1:9081"}
	tests := []struct {
		name    string
		value   string // "" : unset
		want    bool
		wantErr bool
	}{
		{name: "off unless set", want: false},
		{name: "on", value: "true", want: true},
		{name: "off", value: "false", want: false},
		{name: "not a boolean", value: "yes please", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			if tc.value != "" {
				env["API_DOCS_ENABLED"] = tc.value
			}
			c, err := config.Load(platformconfig.NewLoaderFrom(env))
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "API_DOCS_ENABLED") {
					t.Fatalf("Load = %v, want an error naming API_DOCS_ENABLED", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.APIDocsEnabled != tc.want {
				t.Errorf("APIDocsEnabled = %v, want %v", c.APIDocsEnabled, tc.want)
			}
		})
	}
}
