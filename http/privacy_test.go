package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/imaging/exiftest"
)

// TestPrivacy_API: uploads are served without metadata through every
// route (API, compat, web), the owner reads it in /api/v1/info, and
// downloads the original only while the policy allows.
func TestPrivacy_API(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: staticPool})
	ctx := context.Background()
	policies := f.env.Images.Policies
	if err := policies.Set(ctx, pixpool.Policy{TrashDays: 30, KeepOriginals: true}); err != nil {
		t.Fatal(err)
	}
	upload := exiftest.JPEG(48, 32, exiftest.Sample)
	status, b := f.do("PUT", "/api/v1/images/trip/lake.jpg", f.aliceKey, string(upload), "Content-Type", "image/jpeg")
	if status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, b)
	}
	var put struct{ SHA256 string }
	json.Unmarshal(b, &put)

	noMetadata := func(route string, data []byte) {
		t.Helper()
		for _, s := range []string{"TestCam", "Jane Secret", "Exif\x00\x00"} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s serves bytes holding %q", route, s)
			}
		}
		if len(data) == 0 || bytes.Equal(data, upload) {
			t.Errorf("%s serves the upload as it was", route)
		}
	}
	status, served := f.do("GET", "/api/v1/images/trip/lake.jpg", f.aliceKey, "")
	if status != 200 {
		t.Fatalf("get: %d", status)
	}
	noMetadata("GET /api/v1/images", served)
	if put.SHA256 != sha(served) {
		t.Errorf("sha256 %s is not the served bytes' %s", put.SHA256, sha(served))
	}
	// The compatibility API serves them too, as base64 in JSON.
	status, b = f.do("GET", "/api/key/trip/lake.jpg", f.aliceKey, "")
	var compat struct{ Content string }
	if err := json.Unmarshal(b, &compat); status != 200 || err != nil {
		t.Fatalf("compat get: %d %s", status, b)
	}
	content, err := base64.StdEncoding.DecodeString(compat.Content)
	if err != nil || !bytes.Equal(content, served) {
		t.Errorf("compat content (%v) is not the served bytes", err)
	}

	// Info: the owner's metadata and original.
	status, b = f.do("GET", "/api/v1/info/trip/lake.jpg", f.aliceKey, "")
	var info struct {
		SHA256   string
		Metadata *pixpool.ImageMetadata
		Original *struct {
			Size    int64
			Allowed bool
		}
	}
	if err := json.Unmarshal(b, &info); status != 200 || err != nil {
		t.Fatalf("info: %d %s", status, b)
	}
	if info.Metadata == nil || info.Metadata.Model != "Model X" || info.Metadata.GPS == nil || info.Metadata.GPS.Longitude != 6.632273 {
		t.Errorf("info metadata: %s", b)
	}
	if info.Original == nil || info.Original.Size != int64(len(upload)) || !info.Original.Allowed {
		t.Errorf("info original: %s", b)
	}
	// Listing and upload answers show no metadata.
	_, b = f.do("GET", "/api/v1/images", f.aliceKey, "")
	if bytes.Contains(b, []byte("metadata")) || bytes.Contains(b, []byte("Model X")) {
		t.Errorf("listing shows metadata: %s", b)
	}

	// The original, as an attachment, for the owner only.
	req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/originals/trip/lake.jpg", nil)
	req.Header.Set("Authorization", "Bearer "+f.aliceKey)
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var orig bytes.Buffer
	orig.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(orig.Bytes(), upload) {
		t.Fatalf("original: %d, equal %v", resp.StatusCode, bytes.Equal(orig.Bytes(), upload))
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "lake.jpg") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if got, want := resp.Header.Get("ETag"), `"`+sha(upload)+`"`; got != want {
		t.Errorf("ETag %s, want %s", got, want)
	}
	status, b = f.do("GET", "/api/v1/originals/trip/lake.jpg", f.adminKey, "")
	if status != 404 {
		t.Errorf("another user's original: %d %s", status, b)
	}
	wantAPIError(t, b, "not_found")

	// An image without metadata has none to give.
	f.do("PUT", "/api/v1/images/clean.png", f.aliceKey, string(testPNG(t, 8, 8, 1)), "Content-Type", "image/png")
	status, b = f.do("GET", "/api/v1/originals/clean.png", f.aliceKey, "")
	if status != 404 || !strings.Contains(wantAPIError(t, b, "not_found"), "no original kept") {
		t.Errorf("original of a clean image: %d %s", status, b)
	}
	_, b = f.do("GET", "/api/v1/info/clean.png", f.aliceKey, "")
	if !bytes.Contains(b, []byte(`"metadata":null`)) || !bytes.Contains(b, []byte(`"original":null`)) {
		t.Errorf("info of a clean image: %s", b)
	}

	// The admins turn originals off: refused, saying so.
	if err := policies.Set(ctx, pixpool.Policy{TrashDays: 30}); err != nil {
		t.Fatal(err)
	}
	status, b = f.do("GET", "/api/v1/originals/trip/lake.jpg", f.aliceKey, "")
	if status != 403 || !strings.Contains(wantAPIError(t, b, "forbidden"), "turned original downloads off") {
		t.Errorf("original after the policy turned off: %d %s", status, b)
	}
	_, b = f.do("GET", "/api/v1/info/trip/lake.jpg", f.aliceKey, "")
	if !bytes.Contains(b, []byte(`"allowed":false`)) {
		t.Errorf("info after the policy turned off: %s", b)
	}
}

// TestPrivacy_Web: the image page shows its owner the metadata and the
// original's link; /original downloads it.
func TestPrivacy_Web(t *testing.T) {
	p := newPortal(t, noPool)
	ctx := context.Background()
	if err := p.env.Images.Policies.Set(ctx, pixpool.Policy{TrashDays: 30, KeepOriginals: true}); err != nil {
		t.Fatal(err)
	}
	b, _ := p.user(t, "bob")
	upload := exiftest.JPEG(40, 30, exiftest.Sample)
	resp, body := b.upload(b.csrf(), "photo.jpg", upload)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	_, body = b.get("/image?key=photo.jpg")
	wantContains(t, body, "Metadata", "TestCam Model X", "2024-05-01T12:34:56", "46.519654, 6.632273", "GPS position", "Download original", `href="/original?key=photo.jpg"`)
	resp, body = b.get("/original?key=photo.jpg")
	if resp.StatusCode != 200 || body != string(upload) || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("original: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	_, served := b.get("/raw?key=photo.jpg")
	if strings.Contains(served, "TestCam") {
		t.Error("/raw serves the metadata")
	}
	// Another user sees neither.
	c, _ := p.user(t, "carol")
	resp, body = c.get("/original?key=photo.jpg")
	if resp.StatusCode != 404 || strings.Contains(body, "TestCam") {
		t.Errorf("another user's original: %d", resp.StatusCode)
	}
	// Turned off: no link, and the route says why.
	if err := p.env.Images.Policies.Set(ctx, pixpool.Policy{TrashDays: 30}); err != nil {
		t.Fatal(err)
	}
	_, body = b.get("/image?key=photo.jpg")
	wantLacks(t, body, "Download original")
	wantContains(t, body, "turned original downloads off")
	resp, body = b.get("/original?key=photo.jpg")
	if resp.StatusCode != 403 || !strings.Contains(body, "turned original downloads off") {
		t.Errorf("original turned off: %d", resp.StatusCode)
	}
}

// TestPrivacy_OriginalURL: an original too large for the server to send
// (Lambda) is redirected to its own blob, as an attachment.
func TestPrivacy_OriginalURL(t *testing.T) {
	f := newAPIFixture(t, 0)
	ctx := context.Background()
	u, err := f.srv.Store.UserByUsername(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Images.Policies.Set(ctx, pixpool.Policy{KeepOriginals: true}); err != nil {
		t.Fatal(err)
	}
	img, err := f.srv.Images.Put(ctx, u.ID, "photo.jpg", exiftest.JPEG(64, 64, exiftest.Sample))
	if err != nil || img.OriginalKey == "" {
		t.Fatalf("Put: %v, original %q", err, img.OriginalKey)
	}
	f.srv.ImageURLAbove = 10
	f.srv.ImageURL = func(ctx context.Context, img *pixpool.Image, disposition string) (string, error) {
		return "https://bucket.example/" + img.BlobKey + "?d=" + url.QueryEscape(disposition), nil
	}
	rec := f.serve(httptest.NewRequest("GET", "/api/v1/originals/photo.jpg", nil))
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, "https://bucket.example/"+img.OriginalKey+"?d=attachment") {
		t.Fatalf("status %d, Location %q; want a redirect to the original %s as an attachment", rec.Code, loc, img.OriginalKey)
	}
}
