package main

// placeholderAPIDoc stands in for Latchkey's OpenAPI document until package apispec lands; the
// integrator replaces its one use in build with apispec.JSON.
func placeholderAPIDoc() []byte {
	return []byte(`{"openapi":"3.1.0","info":{"title":"Latchkey","version":"0.0.0","description":"The full API description is not built into this release yet."},"paths":{}}`)
}
