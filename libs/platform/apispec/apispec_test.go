package apispec

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestDocumentValidates(t *testing.T) {
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("document does not validate: %v", err)
	}
}

func TestJSONRoundTrips(t *testing.T) {
	var v map[string]any
	if err := json.Unmarshal(JSON(), &v); err != nil {
		t.Fatal(err)
	}
	if v["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", v["openapi"])
	}
	doc, err := openapi3.NewLoader().LoadFromData(JSON())
	if err != nil {
		t.Fatalf("JSON form does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("JSON form does not validate: %v", err)
	}
	want, _ := Document()
	if got, w := doc.Paths.Len(), want.Paths.Len(); got != w {
		t.Errorf("JSON form has %d paths, YAML %d", got, w)
	}
}

// Every operation is named (the pending list and reports refer to operationIds) and answers at
// least one documented success.
func TestOperationsNamedAndAnswered(t *testing.T) {
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if prev, dup := seen[op.OperationID]; dup {
				t.Errorf("%s: operationId %q also used by %s", where, op.OperationID, prev)
			}
			seen[op.OperationID] = where
			ok := false
			for code := range op.Responses.Map() {
				ok = ok || (len(code) == 3 && (code[0] == '2' || code[0] == '3'))
			}
			if !ok {
				t.Errorf("%s: no 2xx/3xx response", where)
			}
		}
	}
}

// Each path answers in its wire style: errors under /api/v1/account are the envelope, elsewhere
// FastAPI's {"detail": ...} (HTTPValidationError for 422); successes under /api/v1/account are
// envelopes.
func TestWireStylePerPath(t *testing.T) {
	doc, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	const schemas = "#/components/schemas/"
	for path, item := range doc.Paths.Map() {
		envelope := path == "/api/v1/account" || strings.HasPrefix(path, "/api/v1/account/") // as wire.StyleFor
		for method, op := range item.Operations() {
			for code, resp := range op.Responses.Map() {
				mt := resp.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil {
					continue // no body: 204, 304, 202
				}
				ref := strings.TrimPrefix(mt.Schema.Ref, schemas)
				if ref == "" && mt.Schema.Value != nil && len(mt.Schema.Value.AllOf) > 0 {
					ref = strings.TrimPrefix(mt.Schema.Value.AllOf[0].Ref, schemas)
				}
				where := method + " " + path + " " + code
				switch {
				case code[0] == '4' || code[0] == '5':
					want := "HTTPError"
					if envelope {
						want = "EnvelopeError"
					} else if code == "422" {
						want = "HTTPValidationError"
					}
					if ref != want {
						t.Errorf("%s: error schema %q, want %s", where, ref, want)
					}
				case envelope && !strings.HasPrefix(ref, "Envelope"):
					t.Errorf("%s: success schema %q is not an envelope", where, ref)
				case !envelope && strings.HasPrefix(ref, "Envelope"):
					t.Errorf("%s: a plain path answers an envelope", where)
				}
			}
		}
	}
}
