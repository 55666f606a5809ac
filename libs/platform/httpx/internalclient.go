package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/latchkey/latchkey/libs/platform/config"
)

// DefaultInternalTimeout bounds one call of an InternalClient made without an http.Client: a stuck
// service must not hold its caller's requests open.
const DefaultInternalTimeout = 5 * time.Second

// maxInternalAnswer is how much of an answer an InternalClient reads.
const maxInternalAnswer = 64 << 10

// InternalClient calls another service's internal API: JSON bodies, the shared internal token
// (INTERNAL_API_TOKEN) as a Bearer, and the caller's trace context carried across the hop. The
// services' own clients map its answers to their domain errors.
type InternalClient struct {
	base  string
	token config.Secret
	http  *http.Client
}

// NewInternalClient returns a client of the internal API at baseURL (e.g. http://127.0.0.1:9081). A
// nil httpClient gets one with DefaultInternalTimeout.
func NewInternalClient(baseURL string, token config.Secret, httpClient *http.Client) *InternalClient {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultInternalTimeout}
	}
	return &InternalClient{base: strings.TrimSuffix(baseURL, "/"), token: token, http: httpClient}
}

// InternalAnswer is an internal API's answer, its body read up to 64 KiB.
type InternalAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Call sends body, JSON-encoded, to path (escaped by the caller) with method and returns the answer,
// whatever its status. An error means no answer: the request could not be built, sent or read — from
// the caller's view the other service is out of reach.
func (c *InternalClient) Call(ctx context.Context, method, path string, body any) (InternalAnswer, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return InternalAnswer{}, fmt.Errorf("encode %s %s: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return InternalAnswer{}, fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token.Value())
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := c.http.Do(req)
	if err != nil {
		return InternalAnswer{}, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxInternalAnswer))
	if err != nil {
		return InternalAnswer{}, fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	return InternalAnswer{Status: resp.StatusCode, Header: resp.Header, Body: out}, nil
}

// Unexpected describes an answer the caller has no meaning for, for its error message.
func (a InternalAnswer) Unexpected(method, path string) string {
	return fmt.Sprintf("%s %s answered %d: %.200s", method, path, a.Status, a.Body)
}
