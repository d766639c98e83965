package http

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

func TestDownloadName(t *testing.T) {
	for _, tc := range []struct{ key, ct, want string }{
		{"cat", "image/png", "cat.png"},
		{"a/b/photo.JPG", "image/jpeg", "photo.JPG"},
		{"x.jpeg", "image/jpeg", "x.jpeg"},
		{`evil"; filename=x.html`, "image/gif", "evil__ filename_x.html.gif"},
		{"dir/", "image/webp", "image.webp"},
		{"..", "image/png", "image.png"},
		{"żółw", "image/png", "żółw.png"},
	} {
		if got := downloadName(tc.key, tc.ct); got != tc.want {
			t.Errorf("downloadName(%q, %q) = %q, want %q", tc.key, tc.ct, got, tc.want)
		}
	}
}

// TestWeb_ImageAnalysis: the image page shows the labels, with a meter
// each and a box over the image, the text, and what recognition lacks.
func TestWeb_ImageAnalysis(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.Analyzer = &service.Analyzer{Store: srv.Store, Blobs: srv.Images.Blobs, LabelsMissing: "run scripts/setup-recognition.sh DIR."}
	b := newBrowser(t, ts)
	b.signUp("ada")
	resp, body := b.upload(b.csrf(), "pets/dog", testPNG(t, 64, 48, 1))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	u, _ := srv.Store.UserByUsername(context.Background(), "ada")
	img, _ := srv.Store.Image(context.Background(), u.ID, "pets/dog")
	err := srv.Store.SaveAnalysis(context.Background(), &pixpool.Analysis{ImageID: img.ID, Checksum: img.Checksum, Status: pixpool.AnalysisDone,
		Labels: []pixpool.Label{{Name: "dog", Confidence: 71.5, Box: pixpool.Box{X0: 4, Y0: 5, X1: 30, Y1: 40}}},
		Lines:  []pixpool.TextLine{{Text: "GOOD BOY", Confidence: 88}}})
	if err != nil {
		t.Fatal(err)
	}
	_, page := b.get("/image?key=" + url.QueryEscape("pets/dog"))
	wantContains(t, page, `<span class="label-name">dog</span>`, `<meter min="0" max="100"`, `value="71.5"`,
		`<rect x="4" y="5" width="26" height="35"`, "GOOD BOY", "run scripts/setup-recognition.sh DIR.", `action="/image/analyze"`)
	resp, _ = b.post("/image/analyze", url.Values{"csrf": {b.csrf()}, "key": {"pets/dog"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("re-analyse: %d", resp.StatusCode)
	}
	if an, _ := srv.Store.Analysis(context.Background(), img.ID); an.Status != pixpool.AnalysisPending {
		t.Fatalf("after re-analyse: %s", an.Status)
	}
}
