package http

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pixpool/pixpool"
)

// TestServer_ImageURL: images over ImageURLAbove are redirected to
// ImageURL's URL, smaller ones sent; a failure to make the URL is the
// error's status.
func TestServer_ImageURL(t *testing.T) {
	f := newAPIFixture(t, 0)
	small := photo100KB(t)
	ctx := context.Background()
	u, err := f.srv.Store.UserByUsername(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Images.Put(ctx, u.ID, "small", small); err != nil {
		t.Fatal(err)
	}
	var fail error
	f.srv.ImageURLAbove = int64(len(small)) - 1
	f.srv.ImageURL = func(ctx context.Context, img *pixpool.Image, disposition string) (string, error) {
		return "https://bucket.example/" + img.BlobKey + "?d=" + disposition, fail
	}

	get := func(path string) *httptest.ResponseRecorder {
		return f.serve(httptest.NewRequest("GET", path, nil))
	}
	// Above the bound: redirected, not cached anywhere.
	rec := get("/api/v1/images/small")
	if rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Cache-Control") != "no-store" || rec.Body.Len() > 200 {
		t.Fatalf("status %d, Cache-Control %q, %d bytes; want a bare 307 with no-store", rec.Code, rec.Header().Get("Cache-Control"), rec.Body.Len())
	}
	if loc := rec.Header().Get("Location"); len(loc) < 30 || loc[:23] != "https://bucket.example/" {
		t.Fatalf("Location %q", loc)
	}
	// At or under the bound: sent.
	f.srv.ImageURLAbove = int64(len(small))
	rec = get("/api/v1/images/small")
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), small) {
		t.Fatalf("status %d, %d bytes; want the image", rec.Code, rec.Body.Len())
	}
	// No URL to be had: the error, not the bytes.
	f.srv.ImageURLAbove = 0
	fail = pixpool.Errorf(pixpool.EUNAVAILABLE, "No URL.")
	if rec = get("/api/v1/images/small"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	fail = errors.New("broken")
	if rec = get("/api/v1/images/small"); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
}
