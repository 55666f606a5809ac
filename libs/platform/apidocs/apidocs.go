// Package apidocs serves a service's API description: the OpenAPI document at GET /openapi.json and a
// Swagger UI page rendering it at GET /docs. Every asset of the page is embedded in the binary and
// served under /docs/, so the page renders without reaching any other host (no CDN), and its
// Content-Security-Policy allows nothing but the page's own origin.
package apidocs

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// Paths of what Register serves.
const (
	DocumentPath = "/openapi.json"
	PagePath     = "/docs"
	// AssetPrefix is where the page's scripts, stylesheet and icon are served, /docs/<name>.
	AssetPrefix = PagePath + "/"
)

// Cache lifetimes. The document and the page change only with a release: caches may keep them for
// an hour and then revalidate with If-None-Match (304 while the release is the same). The assets are
// referenced with their content hash in the URL (?v=), so a new release's page asks for new URLs and
// an asset can be kept for a day.
const (
	documentCacheControl = "public, max-age=3600"
	pageCacheControl     = "public, max-age=3600"
	assetCacheControl    = "public, max-age=86400"
)

// ContentSecurityPolicy is the policy of /docs and its assets: scripts, styles, fonts and the
// document's fetch from the page's own origin only; images also as data: URIs (Swagger UI's
// stylesheet draws its icons with them); no plugins, frames, forms or <base>, and no framing.
// Swagger UI's inline styles set through the DOM (element.style) are not subject to style-src.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options configure the docs page.
type Options struct {
	// Title is the page's title; "API documentation" when empty.
	Title string
}

//go:embed assets/swagger-ui-bundle.js assets/swagger-ui.css assets/favicon-32x32.png
var vendored embed.FS

//go:embed docs.html docs.js
var own embed.FS

// asset is one file served under AssetPrefix.
type asset struct {
	contentType string
	body        []byte
	etag        string
	// gzipped is body compressed once, on the first request that accepts gzip (Swagger UI's bundle
	// is 1.7 MB and compresses to about a third).
	gzipOnce sync.Once
	gzipped  []byte
}

// assets are the files under AssetPrefix by name: Swagger UI's (assets/README.md names the release)
// and docs.js, which starts it on /openapi.json.
var assets = map[string]*asset{
	"swagger-ui-bundle.js": {contentType: "text/javascript; charset=utf-8", body: mustRead(vendored, "assets/swagger-ui-bundle.js")},
	"swagger-ui.css":       {contentType: "text/css; charset=utf-8", body: mustRead(vendored, "assets/swagger-ui.css")},
	"favicon-32x32.png":    {contentType: "image/png", body: mustRead(vendored, "assets/favicon-32x32.png")},
	"docs.js":              {contentType: "text/javascript; charset=utf-8", body: mustRead(own, "docs.js")},
}

func init() {
	for _, a := range assets {
		a.etag = entityTag(a.body)
	}
}

var pageTemplate = template.Must(template.ParseFS(own, "docs.html"))

// Register serves the document doc returns at GET /openapi.json and the docs page at GET /docs (its
// assets at GET /docs/:asset) on app. doc is called once, here: the document is part of the release.
// Register panics when doc returns something other than a JSON object, since the document is built
// into the binary and its own tests must have caught that.
func Register(app *fiber.App, doc func() []byte, opts Options) {
	body := doc()
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		panic(fmt.Sprintf("apidocs: the OpenAPI document is not a JSON object: %v", err))
	}
	document := &asset{contentType: fiber.MIMEApplicationJSONCharsetUTF8, body: body, etag: entityTag(body)}

	title := opts.Title
	if title == "" {
		title = "API documentation"
	}
	version := func(name string) string {
		return AssetPrefix + name + "?v=" + strings.Trim(assets[name].etag, `"`)[:12]
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, map[string]string{
		"Title":  title,
		"CSS":    version("swagger-ui.css"),
		"Icon":   version("favicon-32x32.png"),
		"Bundle": version("swagger-ui-bundle.js"),
		"Init":   version("docs.js"),
		// The page names the document's URL in a data attribute: docs.js reads it (no inline script).
		"Document": DocumentPath,
	}); err != nil {
		panic(fmt.Sprintf("apidocs: render the docs page: %v", err)) // a fixed template over strings
	}
	page := &asset{contentType: fiber.MIMETextHTMLCharsetUTF8, body: buf.Bytes(), etag: entityTag(buf.Bytes())}

	app.Get(DocumentPath, func(c *fiber.Ctx) error { return send(c, document, documentCacheControl) })
	app.Get(PagePath, func(c *fiber.Ctx) error {
		setPageHeaders(c)
		return send(c, page, pageCacheControl)
	})
	app.Get(AssetPrefix+":asset", func(c *fiber.Ctx) error {
		a, ok := assets[c.Params("asset")]
		if !ok {
			return fiber.ErrNotFound
		}
		setPageHeaders(c)
		return send(c, a, assetCacheControl)
	})
}

// setPageHeaders sets the security headers of the docs page and its assets.
func setPageHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderContentSecurityPolicy, ContentSecurityPolicy)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
}

// send answers a with cacheControl and a strong ETag of its body; a request whose If-None-Match names
// it gets 304 Not Modified without a body. A client accepting gzip gets large bodies compressed.
func send(c *fiber.Ctx, a *asset, cacheControl string) error {
	// httpx marks every answer no-store; these are public, the same for everyone.
	c.Set(fiber.HeaderCacheControl, cacheControl)
	c.Response().Header.Del(fiber.HeaderPragma)
	c.Vary(fiber.HeaderAcceptEncoding)
	// The gzipped body is another representation: it has its own entity tag (RFC 9110 §8.8.3), so a
	// cache never answers a client that cannot unzip with a body validated for one that can.
	zipped := len(a.body) >= minGzip && acceptsGzip(c.Get(fiber.HeaderAcceptEncoding))
	etag := a.etag
	if zipped {
		etag = strings.TrimSuffix(a.etag, `"`) + `-gzip"`
	}
	c.Set(fiber.HeaderETag, etag)
	if etagMatches(c.Get(fiber.HeaderIfNoneMatch), etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, a.contentType)
	if zipped {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.compressed())
	}
	return c.Send(a.body)
}

// minGzip is the smallest body worth compressing.
const minGzip = 1 << 10

func (a *asset) compressed() []byte {
	a.gzipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
		_, _ = zw.Write(a.body)                                  // writes to memory do not fail
		_ = zw.Close()
		a.gzipped = buf.Bytes()
	})
	return a.gzipped
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip (and does not refuse it, q=0).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// entityTag is a strong ETag of body: a quoted, URL-safe hash prefix.
func entityTag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// etagMatches applies If-None-Match (RFC 9110 §13.1.2): "*", or any listed entity tag equal to etag
// under the weak comparison (a W/ prefix is ignored).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

func mustRead(fsys embed.FS, name string) []byte {
	b, err := fsys.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: always there
	}
	return b
}
