package http

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// An image sent to ImageURL is not read first: its redirect needs only
// its row (here its bytes are gone, and the redirect still comes), so
// the function does not pull megabytes from S3 to send a Location.
func TestServer_ImageURLLeavesBytesUnread(t *testing.T) {
	f := newAPIFixture(t, 0)
	ctx := context.Background()
	u, err := f.srv.Store.UserByUsername(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	img, err := f.srv.Images.Put(ctx, u.ID, "big", photo100KB(t))
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Images.Wait()
	if err := f.srv.Images.Blobs.Delete(ctx, img.BlobKey); err != nil {
		t.Fatal(err)
	}
	if c := f.srv.Images.Cache; c != nil {
		c.Delete(ctx, service.CacheKey(u.ID, "big"))
	}
	f.srv.ImageURLAbove = img.Size - 1
	f.srv.ImageURL = func(ctx context.Context, img *pixpool.Image, disposition string) (string, error) {
		return "https://bucket.example/" + img.BlobKey, nil
	}
	rec := f.serve(httptest.NewRequest("GET", "/api/v1/images/big", nil))
	if rec.Code != http.StatusTemporaryRedirect {
		t.Errorf("status %d, want 307 without reading the bytes: %s", rec.Code, rec.Body)
	}
}

// A HEAD of an image sent to ImageURL answers from its row: the presigned
// URL is for GET, and S3 refuses a HEAD of it.
func TestServer_ImageURLHeadAnswersFromRow(t *testing.T) {
	f := newAPIFixture(t, 0)
	ctx := context.Background()
	u, err := f.srv.Store.UserByUsername(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	img, err := f.srv.Images.Put(ctx, u.ID, "big", photo100KB(t))
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Images.Wait()
	f.srv.ImageURLAbove = img.Size - 1
	f.srv.ImageURL = func(ctx context.Context, img *pixpool.Image, disposition string) (string, error) {
		return "https://bucket.example/" + img.BlobKey, nil
	}
	rec := f.serve(httptest.NewRequest("HEAD", "/api/v1/images/big", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Location") != "" {
		t.Fatalf("HEAD: status %d, Location %q; want 200 and no redirect", rec.Code, rec.Header().Get("Location"))
	}
	if got, want := rec.Header().Get("Content-Length"), strconv.FormatInt(img.Size, 10); got != want {
		t.Errorf("Content-Length %q, want %q", got, want)
	}
	if got, want := rec.Header().Get("ETag"), `"`+img.Checksum+`"`; got != want {
		t.Errorf("ETag %q, want %q", got, want)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("HEAD answered %d bytes of body", rec.Body.Len())
	}
}
