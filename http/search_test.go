package http

import (
	"context"
	"fmt"
	"image"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// newSearchServer is newTestServer with analysis on, its recognizers not
// installed: the tests put done analyses in the store themselves.
func newSearchServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	srv, ts := newTestServer(t)
	srv.Analyzer = &service.Analyzer{Store: srv.Store, Blobs: srv.Images.Blobs,
		LabelsMissing: "run scripts/setup-recognition.sh DIR.", TextMissing: "install Tesseract."}
	return srv, ts
}

// storeImage stores a small image of username's under key.
func storeImage(t *testing.T, srv *Server, username, key string) *pixpool.Image {
	t.Helper()
	ctx := context.Background()
	u, err := srv.Store.UserByUsername(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	img, err := srv.Images.Put(ctx, u.ID, key, testPNG(t, 16, 12, 3))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// analysed stores an image of username's under key with a done analysis
// of the labels and lines of text given.
func analysed(t *testing.T, srv *Server, username, key string, labels []string, lines ...string) {
	t.Helper()
	img := storeImage(t, srv, username, key)
	an := &pixpool.Analysis{ImageID: img.ID, Checksum: img.Checksum, Status: pixpool.AnalysisDone}
	for _, l := range labels {
		an.Labels = append(an.Labels, pixpool.Label{Name: l, Confidence: 80, Box: pixpool.Box{X1: 8, Y1: 8}})
	}
	for _, l := range lines {
		an.Lines = append(an.Lines, pixpool.TextLine{Text: l, Confidence: 90})
	}
	if err := srv.Store.SaveAnalysis(context.Background(), an); err != nil {
		t.Fatal(err)
	}
}

func search(q string) string { return "/search?" + url.Values{"q": {q}}.Encode() }

// TestWeb_Search: the search page finds the user's own images by label
// and by words of their text, and nobody else's.
func TestWeb_Search(t *testing.T) {
	srv, ts := newSearchServer(t)
	newBrowser(t, ts).signUp("bob")
	b := newBrowser(t, ts)
	b.signUp("ada")
	analysed(t, srv, "ada", "pets/rex & co", []string{"dog", "person"})
	analysed(t, srv, "ada", "notes/sign", nil, "Beware of the DOG", "good boy")
	analysed(t, srv, "ada", "cat", []string{"cat"})
	analysed(t, srv, "bob", "bob/dog", []string{"dog"})
	// Not analysed yet: found by nothing.
	storeImage(t, srv, "ada", "new dog")

	t.Run("LoggedOut", func(t *testing.T) {
		anon := newBrowser(t, ts)
		resp, body := anon.get(search("dog"))
		wantRedirect(t, resp, body, "/login?next="+url.QueryEscape(search("dog")))
	})

	t.Run("Blank", func(t *testing.T) {
		for _, q := range []string{"/search", search(""), search("   ")} {
			resp, body := b.get(q)
			wantStatus(t, resp, body, http.StatusOK)
			wantContains(t, body, `<label for="q">Search my images</label>`, `type="search" value=""`, `name="q"`,
				`action="/search"`, "words of text", `href="/search" aria-current="page"`)
			wantLacks(t, body, `id="results-h"`, "/thumb?", "No images match")
		}
	})

	t.Run("Label", func(t *testing.T) {
		resp, body := b.get(search("dog"))
		wantStatus(t, resp, body, http.StatusOK)
		keys := keysLinked(t, body, "/thumb")
		slices.Sort(keys)
		if want := []string{"notes/sign", "pets/rex & co"}; !slices.Equal(keys, want) {
			t.Fatalf("search dog: thumbnails %q, want %q", keys, want)
		}
		links := keysLinked(t, body, "/image")
		slices.Sort(links)
		if !slices.Equal(links, keys) {
			t.Fatalf("search dog: image links %q, want %q", links, keys)
		}
		wantContains(t, body, "2 images match “dog”", `value="dog"`, "<title>Search “dog” · pixpool</title>")
	})

	t.Run("TextWords", func(t *testing.T) {
		_, body := b.get(search("  Good BOY "))
		if keys := keysLinked(t, body, "/thumb"); !slices.Equal(keys, []string{"notes/sign"}) {
			t.Fatalf("search good boy: %q", keys)
		}
		wantContains(t, body, "1 image matches “Good BOY”")
	})

	t.Run("NoMatch", func(t *testing.T) {
		for _, q := range []string{"giraffe", "dog giraffe", "!!!"} {
			resp, body := b.get(search(q))
			wantStatus(t, resp, body, http.StatusOK)
			wantContains(t, body, "0 images match", "No images match “"+q+"”")
			if keys := keysLinked(t, body, "/thumb"); len(keys) != 0 {
				t.Fatalf("search %q: %q", q, keys)
			}
		}
	})

	t.Run("TooLong", func(t *testing.T) {
		resp, body := b.get(search(strings.Repeat("dog ", 50) + "x"))
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, `role="alert"`, "The search is too long: use at most 200 bytes", `<label for="q">`)
		wantLacks(t, body, "/thumb?")
		resp, body = b.get(search(strings.Repeat("dog ", 50)))
		wantStatus(t, resp, body, http.StatusOK)
	})

	t.Run("Missing", func(t *testing.T) {
		_, body := b.get("/search")
		wantContains(t, body, "Recognition is not installed: run scripts/setup-recognition.sh DIR. install Tesseract.")
	})

	t.Run("Gallery", func(t *testing.T) {
		_, body := b.get("/images")
		wantContains(t, body, `<a href="/search">Search</a>`, `<form method="get" action="/search"`, `for="gallery-q"`)
	})
}

// TestWeb_SearchCapped: past searchLimit matches the page shows the best
// and says there are more.
func TestWeb_SearchCapped(t *testing.T) {
	srv, ts := newSearchServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	for i := range searchLimit + 1 {
		analysed(t, srv, "ada", fmt.Sprintf("dog%03d", i), []string{"dog"})
	}
	resp, body := b.get(search("dog"))
	wantStatus(t, resp, body, http.StatusOK)
	if n := len(keysLinked(t, body, "/thumb")); n != searchLimit {
		t.Fatalf("%d thumbnails, want %d", n, searchLimit)
	}
	wantContains(t, body, fmt.Sprintf("More than %d images match “dog”", searchLimit), "Add a word to narrow the search.")

	analysed(t, srv, "ada", "cat", []string{"cat"})
	_, body = b.get(search("cat"))
	wantLacks(t, body, "More than", "Add a word")
}

// TestWeb_SearchOff: with analysis off the page says so, and neither the
// nav nor the gallery offers search.
func TestWeb_SearchOff(t *testing.T) {
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	for _, q := range []string{"/search", search("dog")} {
		resp, body := b.get(q)
		wantStatus(t, resp, body, http.StatusOK)
		wantContains(t, body, "Image analysis is turned off on this server")
		wantLacks(t, body, `name="q"`, "/thumb?")
	}
	_, body := b.get("/images")
	wantLacks(t, body, `href="/search"`, `action="/search"`)
}

// TestWeb_SearchInstalled: with recognition installed the page has no
// word about what is missing.
func TestWeb_SearchInstalled(t *testing.T) {
	srv, ts := newSearchServer(t)
	b := newBrowser(t, ts)
	srv.Analyzer.Labels = func(context.Context, image.Image) ([]pixpool.Label, error) { return nil, nil }
	srv.Analyzer.Text = func(context.Context, image.Image) ([]pixpool.TextLine, error) { return nil, nil }
	b.signUp("ada")
	_, body := b.get("/search")
	wantLacks(t, body, "not installed", `class="alert`)
}
