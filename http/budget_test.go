package http

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging"
)

// An upload that finds no room to decode gets 503 with Retry-After, and
// one that needs more than the whole budget gets 400 with the reason.
func TestAPI_DecodeBudget(t *testing.T) {
	f := newAPIFixture(t, 0)
	photo := photo100KB(t) // 400×400 JPEG: 240 KB decoded
	b := &imaging.Budget{Bytes: 1 << 20, Wait: 20 * time.Millisecond, FreeEvery: -1}
	f.srv.Images.Budget = b

	hold, err := b.Acquire(context.Background(), 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The compatibility API answers the same 503, not its catch-all 500:
	// a client is to try again, not to give up.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("key", "k")
	fw, _ := mw.CreateFormFile("file", "k.jpg")
	fw.Write(photo)
	mw.Close()
	req := httptest.NewRequest("POST", "/api/upload", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if rec := f.serve(req); rec.Code != 503 || rec.Header().Get("Retry-After") != "5" || !strings.Contains(rec.Body.String(), `"code":503`) {
		t.Fatalf("compat upload over a full budget: %d %s, Retry-After %q; want 503 with Retry-After 5", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	rec := f.serve(httptest.NewRequest("PUT", "/api/v1/images/k", bytes.NewReader(photo)))
	if got, want := rec.Code, 503; got != want {
		t.Fatalf("PUT over a full budget: %d %s, want %d", got, rec.Body, want)
	}
	if got, want := rec.Header().Get("Retry-After"), "5"; got != want {
		t.Fatalf("Retry-After=%q, want %q", got, want)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != pixpool.EUNAVAILABLE || body.Error.Message == "" {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}
	hold()
	if rec := f.serve(httptest.NewRequest("PUT", "/api/v1/images/k", bytes.NewReader(photo))); rec.Code != 201 && rec.Code != 200 {
		t.Fatalf("PUT after the release: %d %s", rec.Code, rec.Body)
	}

	f.srv.Images.Budget = &imaging.Budget{Bytes: 100 << 10}
	rec = f.serve(httptest.NewRequest("PUT", "/api/v1/images/k2", bytes.NewReader(photo)))
	if rec.Code != 400 || rec.Header().Get("Retry-After") != "" {
		t.Fatalf("PUT of an image over the whole budget: %d %s, Retry-After %q; want 400 without", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
}
