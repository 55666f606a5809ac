// Package apispec holds Latchkey's OpenAPI 3.1 description of every public path (openapi.yaml,
// embedded) and hands it out parsed (Document) or as JSON for serving (JSON). Tests keep it honest:
// each service compares the routes it registers with the document's operations, and apispectest
// validates every request and response the handler tests and the journeys make.
package apispec

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed openapi.yaml
var source []byte

// YAML returns the document as written.
func YAML() []byte { return append([]byte(nil), source...) }

var (
	loadOnce sync.Once
	loaded   *openapi3.T
	loadErr  error

	jsonOnce sync.Once
	jsonDoc  []byte
)

// Document returns the parsed document. It is parsed once per process; callers must not modify it.
func Document() (*openapi3.T, error) {
	loadOnce.Do(func() {
		loader := openapi3.NewLoader()
		loaded, loadErr = loader.LoadFromData(source)
		if loadErr != nil {
			loadErr = fmt.Errorf("apispec: load openapi.yaml: %w", loadErr)
		}
	})
	return loaded, loadErr
}

// Validate runs kin-openapi's validation of the document.
func Validate(ctx context.Context) error {
	doc, err := Document()
	if err != nil {
		return err
	}
	return doc.Validate(ctx)
}

// JSON returns the document as JSON, the form /openapi.json serves. It panics if the embedded
// document does not load, which TestDocumentValidates rules out.
func JSON() []byte {
	jsonOnce.Do(func() {
		doc, err := Document()
		if err != nil {
			panic(err.Error())
		}
		b, err := json.Marshal(doc)
		if err != nil {
			panic(fmt.Sprintf("apispec: marshal: %v", err))
		}
		jsonDoc = b
	})
	return append([]byte(nil), jsonDoc...)
}
