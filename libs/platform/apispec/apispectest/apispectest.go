// Package apispectest validates requests and responses made in tests against the OpenAPI document
// (libs/platform/apispec), and compares a service's registered routes with the document's
// operations. Test harnesses call Check for every exchange they make.
//
// The response is always validated, status included: an undocumented status or a body that does not
// match the documented schema fails the test. The request is validated only when the answer is a
// success (2xx): tests send deliberately malformed requests to check the 4xx they get, and those
// requests are expected not to match the document.
package apispectest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/latchkey/latchkey/libs/platform/apispec"
)

// The documentation page and its assets are text and images, not JSON: their bodies are taken as
// strings, so the document's schemas (type: string) and content types still get checked.
func init() {
	for _, ct := range []string{"text/html", "text/javascript", "text/css", "image/png"} {
		openapi3filter.RegisterBodyDecoder(ct, rawBody)
	}
}

func rawBody(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	return string(b), err
}

// OwnerExtension is the path-item extension that names the service registering the path.
const OwnerExtension = "x-latchkey-service"

// DevOnlyExtension marks an operation only the local stack serves.
const DevOnlyExtension = "x-latchkey-dev-only"

type route struct {
	path     string
	segments []string
	method   string
	item     *openapi3.PathItem
	op       *openapi3.Operation
}

var (
	once   sync.Once
	doc    *openapi3.T
	table  []route
	docErr error
)

func load() error {
	once.Do(func() {
		doc, docErr = apispec.Document()
		if docErr != nil {
			return
		}
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				table = append(table, route{path: path, segments: strings.Split(strings.Trim(path, "/"), "/"), method: method, item: item, op: op})
			}
		}
	})
	return docErr
}

// find returns the documented operation for method and path, preferring literal segments over
// parameters (/username/check over /username/{username}).
func find(method, path string) (route, map[string]string, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	best, bestScore := -1, -1
	var bestParams map[string]string
	for i, r := range table {
		if r.method != method || len(r.segments) != len(segs) {
			continue
		}
		score, params, ok := 0, map[string]string{}, true
		for j, s := range r.segments {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				if segs[j] == "" {
					ok = false
					break
				}
				params[s[1:len(s)-1]] = segs[j]
				continue
			}
			if s != segs[j] {
				ok = false
				break
			}
			score++
		}
		if ok && score > bestScore {
			best, bestScore, bestParams = i, score, params
		}
	}
	if best < 0 {
		return route{}, nil, false
	}
	return table[best], bestParams, true
}

// Check validates one exchange: req as sent with its body reqBody, and the answer (status, header,
// body). Failures are reported with t.Errorf, so Check may be called from any goroutine of the test.
// A request to a path or method the document does not have is only an error when it succeeded.
func Check(t testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) {
	t.Helper()
	if err := check(req, reqBody, status, header, respBody); err != nil {
		t.Errorf("OpenAPI: %s %s → %d: %v\nanswer: %s", req.Method, req.URL.Path, status, err, clip(respBody))
	}
}

// CheckResponse is Check for an *http.Response whose body the caller has read into respBody.
func CheckResponse(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	Check(t, req, reqBody, resp.StatusCode, resp.Header, respBody)
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) error {
	if err := load(); err != nil {
		return err
	}
	if req.Method == http.MethodHead || req.Method == http.MethodOptions {
		return nil
	}
	if strings.HasPrefix(req.URL.Path, "/internal/") {
		return nil // the internal port's API between services, not part of the public document
	}
	r, params, ok := find(req.Method, req.URL.Path)
	if !ok {
		if status >= 200 && status < 400 {
			return fmt.Errorf("the document has no operation %s %s, yet it answered %d", req.Method, req.URL.Path, status)
		}
		return nil
	}
	// A copy: the caller's request may have been sent already and its body consumed.
	rq := req.Clone(context.Background())
	rq.Body = io.NopCloser(bytes.NewReader(reqBody))
	rq.ContentLength = int64(len(reqBody))
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		SkipSettingDefaults:   true,
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    rq,
		PathParams: params,
		Route:      &routers.Route{Spec: doc, Path: r.path, PathItem: r.item, Method: r.method, Operation: r.op},
		Options:    opts,
	}
	ctx := context.Background()
	if status >= 200 && status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			return fmt.Errorf("request (%s) does not match the document: %w", r.op.OperationID, err)
		}
	}
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if len(respBody) == 0 && h.Get("Content-Type") != "" && (status == http.StatusNoContent || status == http.StatusNotModified || status == http.StatusAccepted) {
		h.Del("Content-Type")
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 h,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response (%s) does not match the document: %w", r.op.OperationID, err)
	}
	return nil
}

// Route is a registered route: a method and a Fiber path (":param" segments).
type Route struct{ Method, Path string }

// Operations returns the documented operations of service as "METHOD /path/{}" keys, parameters
// unnamed, with whether each is development-only.
func Operations(service string) (map[string]bool, error) {
	if err := load(); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range table {
		if owner, _ := r.item.Extensions[OwnerExtension].(string); owner == service {
			dev, _ := r.op.Extensions[DevOnlyExtension].(bool)
			out[r.method+" "+normalize(r.path)] = dev
		}
	}
	return out, nil
}

// normalize turns {name} and :name segments into {}.
func normalize(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || (strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}")) {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// CheckRoutes fails t unless the routes a service's public app registers are exactly the operations
// the document gives that service: a registered route missing from the document, or a documented
// operation nobody registers. HEAD (Fiber adds one per GET) and middleware are ignored. withDev says
// whether the app was built with its development-only routes.
func CheckRoutes(t testing.TB, service string, registered []Route, withDev bool) {
	t.Helper()
	ops, err := Operations(service)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		t.Fatalf("the document has no operation for service %q", service)
	}
	got := map[string]bool{}
	for _, r := range registered {
		if r.Method == http.MethodHead || r.Method == "USE" || r.Method == http.MethodOptions {
			continue
		}
		got[r.Method+" "+normalize(r.Path)] = true
	}
	var missing, unregistered []string
	for k := range got {
		if _, ok := ops[k]; !ok {
			missing = append(missing, k)
		}
	}
	for k, dev := range ops {
		if !got[k] && (!dev || withDev) {
			unregistered = append(unregistered, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unregistered)
	for _, k := range missing {
		t.Errorf("%s registers %s, which libs/platform/apispec/openapi.yaml does not document (or gives to another service)", service, k)
	}
	for _, k := range unregistered {
		t.Errorf("openapi.yaml documents %s for %s, which its public app does not register", k, service)
	}
}
