// Package lambda serves an http.Handler to AWS Lambda's HTTP events: API
// Gateway HTTP API events (payload format 2.0) and function URL events,
// which have the same shape. Both are buffered: the whole request arrives
// in the event and the whole response leaves in the function's answer,
// each at most MaxPayload bytes of JSON, bodies in base64 when they are
// not text. (aws-lambda-go's lambdaurl package answers function URLs in
// streaming mode only, which API Gateway does not speak.)
package lambda

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// MaxPayload is Lambda's limit on the event and on the answer of a
// synchronous invocation: 6 MB (6,291,456 bytes of JSON).
const MaxPayload = 6 << 20

// envelope is room kept in a payload for what surrounds the body: the
// event's headers, cookies and request context, or the answer's headers.
// API Gateway bounds a request's headers to 10 KB; 64 KiB is ample.
const envelope = 64 << 10

// MaxBody is the largest body, in bytes, that fits in a payload once in
// base64, with room for the rest of the event: 4.45 MiB.
const MaxBody = (MaxPayload - envelope) / 4 * 3

// Handler answers HTTP events with an http.Handler.
type Handler struct {
	// Handler serves the requests.
	Handler http.Handler
	// MaxResponse bounds the JSON answer; a response that would not fit
	// becomes a 502 that says why. If zero, MaxPayload.
	MaxResponse int
}

// ServeEvent answers one event.
func (h *Handler) ServeEvent(ctx context.Context, e *events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r, err := Request(ctx, e)
	if err != nil {
		return textResponse(http.StatusBadRequest, "Malformed request: "+err.Error()+"\n"), nil
	}
	limit := h.maxResponse()
	w := newRecorder(limit)
	w.head = r.Method == http.MethodHead
	h.Handler.ServeHTTP(w, r)
	if !w.over {
		if resp := w.response(); size(resp) <= limit {
			return resp, nil
		}
	}
	return textResponse(http.StatusBadGateway, fmt.Sprintf(
		"The response (status %d, %s) is larger than AWS Lambda's limit of %d bytes on a function's answer; fetch it from a server that is not on Lambda.\n",
		w.code(), w.header.Get("Content-Type"), MaxPayload)), nil
}

func (h *Handler) maxResponse() int {
	if h.MaxResponse > 0 {
		return h.MaxResponse
	}
	return MaxPayload
}

// Request makes the http.Request an event describes: its method, raw path
// and query string, headers (the cookies array as one Cookie header),
// body (decoded from base64 if it is), TLS (set when X-Forwarded-Proto is
// https, as API Gateway and function URLs always send) and the client's address
// (requestContext.http.sourceIp, with port 0, as RemoteAddr: API Gateway
// saw the client's connection, so it is what a server that trusts no
// proxy takes as the client; X-Forwarded-For is passed on unchanged for
// servers told to trust it).
func Request(ctx context.Context, e *events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := e.RequestContext.HTTP.Method
	if method == "" {
		return nil, fmt.Errorf("the event has no requestContext.http.method: is it an API Gateway HTTP API (payload 2.0) or function URL event?")
	}
	path := e.RawPath
	if path == "" {
		path = e.RequestContext.HTTP.Path
	}
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	// An HTTP API hands the path over decoded (a function URL does not):
	// a "%" that starts no escape is then a literal one, which would not
	// parse.
	path = escapeBarePercents(path)
	target := path
	if e.RawQueryString != "" {
		target += "?" + e.RawQueryString
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", target, err)
	}
	var body []byte
	if e.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(e.Body); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	} else {
		body = []byte(e.Body)
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.URL = u
	r.RequestURI = target
	proto := e.RequestContext.HTTP.Protocol
	if major, minor, ok := http.ParseHTTPVersion(proto); ok {
		r.Proto, r.ProtoMajor, r.ProtoMinor = proto, major, minor
	}
	for k, v := range e.Headers {
		// Payload 2.0 joins repeated headers with commas, which is how
		// HTTP reads them anyway (RFC 9110, 5.3); Cookie is the exception,
		// below.
		if http.CanonicalHeaderKey(k) == "Cookie" {
			continue
		}
		r.Header.Add(k, v)
	}
	if cookies := cookieHeader(e); cookies != "" {
		r.Header.Set("Cookie", cookies)
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = e.RequestContext.DomainName
	}
	r.Header.Del("Host")
	r.ContentLength = int64(len(body))
	if te := r.Header.Get("Transfer-Encoding"); te != "" {
		r.Header.Del("Transfer-Encoding") // the body is whole here
	}
	if ip := e.RequestContext.HTTP.SourceIP; ip != "" {
		r.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	if strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		// The client's connection, to API Gateway or the function URL,
		// is TLS (they take no other): say so, as net/http would, for
		// Secure cookies and HSTS. The details of the handshake are not
		// in the event.
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: r.Host}
	}
	return r, nil
}

// escapeBarePercents writes as "%25" each "%" of path that is not
// followed by two hex digits. A path with only valid escapes is returned
// as is, so an encoded path keeps its escapes ("%2F" stays apart from "/").
func escapeBarePercents(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' && !(i+2 < len(path) && ishex(path[i+1]) && ishex(path[i+2])) {
			if b.Len() == 0 {
				b.WriteString(path[:i])
			}
			b.WriteString("%25")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return path
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// cookieHeader joins the event's cookies (and a Cookie header, which a
// function URL may pass on as well) into one Cookie header.
func cookieHeader(e *events.APIGatewayV2HTTPRequest) string {
	var parts []string
	for k, v := range e.Headers {
		if http.CanonicalHeaderKey(k) == "Cookie" && v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) > 0 && len(e.Cookies) > 0 {
		parts = nil // the same cookies twice: the array is API Gateway's own
	}
	parts = append(parts, e.Cookies...)
	return strings.Join(parts, "; ")
}

// recorder is the http.ResponseWriter of one event: it keeps the body
// up to the payload's limit and notes a larger one.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int  // of the body once in base64
	over   bool // the body went past limit; the rest was dropped
	head   bool // the request is a HEAD: the body is not sent
}

func newRecorder(limit int) *recorder { return &recorder{header: http.Header{}, limit: limit} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	// As net/http's server: a HEAD's body is dropped, and statuses that
	// have none refuse one.
	if w.head {
		return len(p), nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.over || base64.StdEncoding.EncodedLen(w.body.Len()+len(p)) > w.limit {
		w.over = true
		w.body.Reset()
		return len(p), nil
	}
	return w.body.Write(p)
}

// bodyAllowed reports whether a response of this status may have a body
// (RFC 9110, 6.4.1).
func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func (w *recorder) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// response is the answer for what was written: headers joined with
// commas (payload 2.0 has one value per header), Set-Cookie as the
// cookies array, and the body as text if it is text in UTF-8, else in
// base64 so that it comes back byte for byte.
func (w *recorder) response() events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{StatusCode: w.code(), Headers: map[string]string{}}
	h := w.header
	if h.Get("Content-Type") == "" && w.body.Len() > 0 {
		// What net/http's server would send.
		h.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	for k, vs := range h {
		switch k {
		case "Set-Cookie":
			resp.Cookies = append(resp.Cookies, vs...)
		case "Content-Length", "Transfer-Encoding", "Connection":
			// Set by API Gateway for the body it sends.
		default:
			resp.Headers[k] = strings.Join(vs, ",")
		}
	}
	if w.body.Len() > 0 {
		b := w.body.Bytes()
		if isText(h.Get("Content-Type")) && utf8.Valid(b) {
			resp.Body = string(b)
		} else {
			resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(b), true
		}
	}
	return resp
}

// isText reports whether a body of this type is text, sent as is.
func isText(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(t, "text/"), strings.HasSuffix(t, "+json"), strings.HasSuffix(t, "+xml"):
		return true
	}
	switch t {
	case "application/json", "application/javascript", "application/xml", "application/x-www-form-urlencoded":
		return true
	}
	return false
}

// size bounds the JSON of resp from above: every byte of a string may
// take six once escaped, but base64 and most headers take one.
func size(resp events.APIGatewayV2HTTPResponse) int {
	n := 128 + len(resp.Body) + 2 // base64 needs no escapes
	if !resp.IsBase64Encoded {
		n = 128 + jsonLen(resp.Body)
	}
	for k, v := range resp.Headers {
		n += jsonLen(k) + jsonLen(v) + 4
	}
	for _, c := range resp.Cookies {
		n += jsonLen(c) + 2
	}
	return n
}

// jsonLen is the length of s as a JSON string, as encoding/json writes it.
func jsonLen(s string) int {
	n := 2
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029:
			n += 6
		case r == utf8.RuneError:
			n += 6
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

func textResponse(status int, msg string) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		Body:       msg,
	}
}
