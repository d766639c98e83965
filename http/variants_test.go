package http

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/pool"
)

// photoJPEG is a w×h JPEG of a gradient.
func photoJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// getAs sends a GET (or HEAD) with an API key and returns the answer.
func (f *poolFixture) getAs(method, path, key string, header ...string) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.ts.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.Bytes()
}

func TestAPIVariants(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: staticPool})
	orig := photoJPEG(t, 1200, 900)
	if status, b := f.do("PUT", "/api/v1/images/photos/cat.jpg", f.aliceKey, string(orig)); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, b)
	}
	path := "/api/v1/images/photos%2Fcat.jpg"

	t.Run("Allowlisted", func(t *testing.T) {
		resp, b := f.getAs("GET", path+"?w=640", f.aliceKey)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("GET ?w=640: %d %s: %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		info, err := imaging.Dimensions(b)
		if err != nil || info.Width != 640 || info.Height != 480 {
			t.Fatalf("variant is %+v, %v; want 640×480", info, err)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" || etag == `"`+sha(orig)+`"` {
			t.Fatalf("variant ETag %q, want one of its own", etag)
		}
		// Conditional: the same ETag answers 304.
		resp, _ = f.getAs("GET", path+"?w=640", f.aliceKey, "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("If-None-Match: %d, want 304", resp.StatusCode)
		}
		// HEAD: the headers alone.
		resp, hb := f.getAs("HEAD", path+"?w=640", f.aliceKey)
		if resp.StatusCode != http.StatusOK || len(hb) != 0 || resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Fatalf("HEAD: %d, %d bytes, Content-Length %q, want 200 and %d", resp.StatusCode, len(hb), resp.Header.Get("Content-Length"), len(b))
		}
	})

	t.Run("Formats", func(t *testing.T) {
		for _, tt := range []struct{ query, ctype string }{
			{"?w=320&format=webp", "image/webp"},
			{"?w=320&format=png", "image/png"},
			{"?w=160&h=160&fit=cover", "image/jpeg"},
		} {
			resp, b := f.getAs("GET", path+tt.query, f.aliceKey)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tt.ctype {
				t.Fatalf("GET %s: %d %s, want 200 %s: %.200s", tt.query, resp.StatusCode, resp.Header.Get("Content-Type"), tt.ctype, b)
			}
			if _, _, err := imaging.Inspect(b, 0); err != nil {
				t.Fatalf("GET %s: the bytes do not decode: %v", tt.query, err)
			}
		}
	})

	t.Run("NotAllowlisted", func(t *testing.T) {
		resp, b := f.getAs("GET", path+"?w=500", f.aliceKey)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("GET ?w=500: %d, want 400", resp.StatusCode)
		}
		if msg := wantAPIError(t, b, pixpool.EINVALID); !strings.Contains(msg, "160, 320, 640, 1024, 1600, 2048") {
			t.Fatalf("message %q does not list the allowed sizes", msg)
		}
	})

	t.Run("BadParams", func(t *testing.T) {
		for _, q := range []string{"?w=0", "?w=abc", "?w=5000", "?fit=cover&w=320", "?w=320&format=gif", "?w=320&fit=fill", "?format=png"} {
			resp, b := f.getAs("GET", path+q, f.aliceKey)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("GET %s: %d, want 400: %s", q, resp.StatusCode, b)
			}
			wantAPIError(t, b, pixpool.EINVALID)
		}
	})

	t.Run("Signed", func(t *testing.T) {
		status, b := f.do("GET", "/api/v1/variants/sign/photos%2Fcat.jpg?w=500&h=200&fit=cover&format=webp", f.aliceKey, "")
		if status != http.StatusOK {
			t.Fatalf("sign: %d %s", status, b)
		}
		var signed struct{ URL, Sig string }
		if err := json.Unmarshal(b, &signed); err != nil || signed.Sig == "" || !strings.HasPrefix(signed.URL, path+"?") {
			t.Fatalf("sign answered %s (%v)", b, err)
		}
		resp, body := f.getAs("GET", signed.URL, f.aliceKey)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/webp" {
			t.Fatalf("GET %s: %d: %.200s", signed.URL, resp.StatusCode, body)
		}
		if info, err := imaging.Dimensions(body); err != nil || info.Width != 500 || info.Height != 200 {
			t.Fatalf("signed variant %+v, %v; want 500×200", info, err)
		}
		// Changed parameters, a forged signature, or another user: 403.
		u, _ := url.Parse(signed.URL)
		q := u.Query()
		q.Set("w", "501")
		if resp, b := f.getAs("GET", u.Path+"?"+q.Encode(), f.aliceKey); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("changed w: %d, want 403: %s", resp.StatusCode, b)
		}
		q.Set("w", "500")
		q.Set("sig", "AAAAAAAAAAAAAAAAAAAAAA")
		if resp, b := f.getAs("GET", u.Path+"?"+q.Encode(), f.aliceKey); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("forged sig: %d, want 403: %s", resp.StatusCode, b)
		}
		if status, b := f.do("PUT", "/api/v1/images/photos/cat.jpg", f.adminKey, string(orig)); status != http.StatusCreated {
			t.Fatalf("admin upload: %d %s", status, b)
		}
		if resp, b := f.getAs("GET", signed.URL, f.adminKey); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("alice's signed URL used by another user: %d, want 403: %s", resp.StatusCode, b)
		}
		status, b = f.do("GET", "/api/v1/variants/sign/x?w=99999", f.aliceKey, "")
		if status != http.StatusBadRequest {
			t.Fatalf("sign w=99999: %d, want 400: %s", status, b)
		}
	})

	t.Run("OtherUsersKey", func(t *testing.T) {
		status, b := f.do("PUT", "/api/v1/images/secret", f.adminKey, string(orig))
		if status != http.StatusCreated {
			t.Fatal(status, string(b))
		}
		resp, b := f.getAs("GET", "/api/v1/images/secret?w=320", f.aliceKey)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another user's key: %d, want 404: %s", resp.StatusCode, b)
		}
		resp, _ = f.getAs("GET", "/api/v1/images/secret?w=320", "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no API key: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("Replaced", func(t *testing.T) {
		_, before := f.getAs("GET", path+"?w=320", f.aliceKey)
		if status, b := f.do("PUT", "/api/v1/images/photos/cat.jpg", f.aliceKey, string(photoJPEG(t, 900, 1200))); status != http.StatusCreated {
			t.Fatalf("replace: %d %s", status, b)
		}
		resp, after := f.getAs("GET", path+"?w=320", f.aliceKey)
		info, err := imaging.Dimensions(after)
		if resp.StatusCode != http.StatusOK || err != nil || info.Width != 320 || info.Height != 427 || bytes.Equal(before, after) {
			t.Fatalf("after replace: %d %+v %v, want a 320×427 variant of the new image", resp.StatusCode, info, err)
		}
	})

	t.Run("Web", func(t *testing.T) {
		b := newBrowser(t, f.ts)
		b.login("alice", "correct horse", "/")
		resp, body := b.get("/raw?key=" + url.QueryEscape("photos/cat.jpg") + "&w=160")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("/raw?w=160: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if info, err := imaging.Dimensions([]byte(body)); err != nil || info.Width != 160 || info.Height != 213 {
			t.Fatalf("/raw?w=160 of a 900×1200 image: %+v, %v; want 160×213", info, err)
		}
	})
}

// TestWeb_Srcset: gallery tiles and the image page offer variants smaller
// than the image, each loadable, and the image page the whole image last.
func TestWeb_Srcset(t *testing.T) {
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.signUp("ada")
	for key, data := range map[string][]byte{"big photo": photoJPEG(t, 1200, 900), "tiny": testPNG(t, 100, 80, 1)} {
		if resp, body := b.upload(b.csrf(), key, data); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("upload %s: %d %s", key, resp.StatusCode, body)
		}
	}
	_, body := b.get("/images")
	sets := map[string]string{}
	for _, img := range elements(parseHTML(t, body), "img") {
		src, _ := attrValue(img, "src")
		set, _ := attrValue(img, "srcset")
		sets[src] = set
	}
	want := "/raw?key=big+photo&w=160&h=160 160w, /raw?key=big+photo&w=320&h=320 320w, /raw?key=big+photo&w=640&h=640 640w"
	if got := sets["/thumb?key=big%20photo"]; got != want {
		t.Fatalf("big photo's tile srcset=%q, want %q", got, want)
	}
	if got := sets["/thumb?key=tiny"]; got != "" {
		t.Fatalf("tiny image's tile srcset=%q, want none (no variant is smaller)", got)
	}

	_, body = b.get("/image?key=big+photo")
	imgs := elements(parseHTML(t, body), "img")
	if len(imgs) == 0 {
		t.Fatal("no img on the image page")
	}
	set, _ := attrValue(imgs[0], "srcset")
	want = "/raw?key=big+photo&w=640 640w, /raw?key=big+photo&w=1024 1024w, /raw?key=big+photo 1200w"
	if set != want {
		t.Fatalf("image page srcset=%q, want %q", set, want)
	}
	for _, cand := range strings.Split(set, ", ") {
		u, w, _ := strings.Cut(cand, " ")
		resp, data := b.get(u)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		info, err := imaging.Dimensions([]byte(data))
		if err != nil || strconv.Itoa(info.Width)+"w" != w {
			t.Fatalf("GET %s: %+v, %v; want %s wide", u, info, err, w)
		}
	}
}

// BenchmarkVariant measures, on a 12 MP photo (4000×3000 JPEG) through
// the handler: the first request of a 1024-pixel variant (decoding,
// rendering, storing; each iteration a new signed width, so each
// renders) in JPEG and WebP, then GETs of the 1024 JPEG variant from the
// cache pool and from the blob store, against the original from the pool.
func BenchmarkVariant(b *testing.B) {
	fx := newAPIFixture(b, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	node := &cache.Server{Store: cache.NewStore(cache.StoreConfig{Capacity: 256 << 20}), Logger: slog.New(slog.DiscardHandler)}
	go node.Serve(ln)
	b.Cleanup(func() { node.Close() })
	c := &pool.Client{Logger: slog.New(slog.DiscardHandler)}
	b.Cleanup(func() { c.Close() })
	c.SetLayout(1, []pool.NodeInfo{{ID: "n1", Addr: ln.Addr().String()}})
	fx.srv.Images.Cache = c

	m := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := range 3000 {
		for x := range 4000 {
			m.Set(x, y, color.RGBA{uint8(x * 255 / 4000), uint8(y * 255 / 3000), uint8((x ^ y) & 0x3f), 255})
		}
	}
	var photo bytes.Buffer
	jpeg.Encode(&photo, m, &jpeg.Options{Quality: 88})
	if rec := fx.serve(httptest.NewRequest("PUT", "/api/v1/images/k", bytes.NewReader(photo.Bytes()))); rec.Code != http.StatusCreated {
		b.Fatal(rec.Body)
	}
	u, err := fx.srv.Store.UserByUsername(b.Context(), "ada")
	if err != nil {
		b.Fatal(err)
	}
	get := func(b *testing.B, path string) int {
		rec := fx.serve(httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		return rec.Body.Len()
	}

	for _, format := range []string{"jpeg", "webp"} {
		b.Run("FirstRender1024/"+format, func(b *testing.B) {
			w := 1024
			for b.Loop() {
				w--
				spec := pixpool.VariantSpec{Width: w, Fit: pixpool.FitInside, Format: format}
				sig, err := fx.srv.Images.SignVariant(b.Context(), u.ID, "k", spec)
				if err != nil {
					b.Fatal(err)
				}
				get(b, "/api/v1/images/k?"+spec.Query()+"&sig="+sig)
			}
		})
	}
	b.Run("Original/cached", func(b *testing.B) {
		b.SetBytes(int64(get(b, "/api/v1/images/k")))
		for b.Loop() {
			get(b, "/api/v1/images/k")
		}
	})
	b.Run("Variant1024/cached", func(b *testing.B) {
		b.SetBytes(int64(get(b, "/api/v1/images/k?w=1024")))
		for b.Loop() {
			get(b, "/api/v1/images/k?w=1024")
		}
	})
	b.Run("Variant1024/stored", func(b *testing.B) {
		fx.srv.Images.Cache = nil
		defer func() { fx.srv.Images.Cache = c }()
		b.SetBytes(int64(get(b, "/api/v1/images/k?w=1024")))
		for b.Loop() {
			get(b, "/api/v1/images/k?w=1024")
		}
	})
}

// TestAPIVariants_Large: where large images are sent from the blob store
// (Lambda), so are large variants: the redirect names the variant's blob.
func TestAPIVariants_Large(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.ImageURLAbove = 1000
	srv.ImageURL = func(_ context.Context, img *pixpool.Image, _ string) (string, error) {
		return "https://blobs.example/" + img.BlobKey, nil
	}
	b := newBrowser(t, ts)
	b.signUp("ada")
	if resp, body := b.upload(b.csrf(), "big", photoJPEG(t, 1200, 900)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	client := *ts.Client()
	client.Jar = b.c.Jar
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(ts.URL + "/raw?key=big&w=640&format=png")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(loc, "/var/") || !strings.HasSuffix(loc, "/640x0-inside.png") {
		t.Fatalf("large variant: %d to %q, want 307 to the variant's blob", resp.StatusCode, loc)
	}
}

func TestUprightSize(t *testing.T) {
	for _, tt := range []struct {
		meta string
		w, h int
	}{
		{"", 1200, 900},
		{`{"make":"X"}`, 1200, 900},
		{`{"orientation":3}`, 1200, 900},
		{`{"orientation":6,"kept":["orientation"]}`, 900, 1200},
		{`{"orientation":8,"kept":["ICC colour profile","orientation"]}`, 900, 1200},
		{`{"orientation":8}`, 1200, 900}, // not kept: shown as stored
		{`{"orientation":6,"kept":["ICC colour profile"]}`, 1200, 900},
		{`{"orientation":`, 1200, 900},
	} {
		if w, h := uprightSize(&pixpool.Image{Width: 1200, Height: 900, Metadata: tt.meta}); w != tt.w || h != tt.h {
			t.Errorf("uprightSize(%s)=%d×%d, want %d×%d", tt.meta, w, h, tt.w, tt.h)
		}
	}
}
