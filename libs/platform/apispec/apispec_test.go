package apispec

import (
	"context"
	"encoding/json"
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
