package lambda_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pixpool/pixpool/lambda"
)

// An HTTP API passes the path on decoded: an image key with a literal
// "%" arrives as such and must reach the handler, not a 400.
func TestRequest_DecodedPathWithPercent(t *testing.T) {
	e := event("GET", "/api/v1/images/100% sure/é.png", "")
	r, err := lambda.Request(context.Background(), e)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if got, want := r.URL.Path, "/api/v1/images/100% sure/é.png"; got != want {
		t.Errorf("Path=%q, want %q", got, want)
	}
	// An encoded path (a function URL's) keeps its escapes.
	e = event("GET", "/api/v1/images/a%2Fb%25c", "")
	r, err = lambda.Request(context.Background(), e)
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	if got, want := r.URL.EscapedPath(), "/api/v1/images/a%2Fb%25c"; got != want {
		t.Errorf("EscapedPath()=%q, want %q", got, want)
	}
}

// As net/http's server: no body goes back for a HEAD, and a 204 or 304
// refuses one, whatever the handler writes.
func TestServeEvent_NoBodyForHeadAnd204And304(t *testing.T) {
	var writeErr error
	h := &lambda.Handler{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		}
		_, writeErr = w.Write([]byte("<p>page</p>"))
	})}
	resp := serve(t, h, event("HEAD", "/", ""))
	if resp.StatusCode != 200 || resp.Body != "" || writeErr != nil {
		t.Errorf("HEAD: status %d, body %q, Write error %v; want 200, no body, no error", resp.StatusCode, resp.Body, writeErr)
	}
	if got := resp.Headers["Content-Type"]; got != "text/html; charset=utf-8" {
		t.Errorf("HEAD: Content-Type=%q, want the GET's", got)
	}
	for _, code := range []string{"204", "304"} {
		resp := serve(t, h, event("GET", "/"+code, ""))
		if resp.Body != "" || !errors.Is(writeErr, http.ErrBodyNotAllowed) {
			t.Errorf("%s: body %q, Write error %v; want no body and http.ErrBodyNotAllowed", code, resp.Body, writeErr)
		}
	}
	// A HEAD of something larger than a payload is not a 502.
	big := &lambda.Handler{MaxResponse: 1000, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", 5000)))
	})}
	if resp := serve(t, big, event("HEAD", "/", "")); resp.StatusCode != 200 {
		t.Errorf("HEAD of a large body: status %d, want 200", resp.StatusCode)
	}
}
