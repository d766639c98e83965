package http

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/cache"
	"github.com/pixpool/pixpool/imaging"
	"github.com/pixpool/pixpool/pool"
)

func uploadRequest(key string, file []byte) *http.Request {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("key", key)
	fw, _ := mw.CreateFormFile("file", "f")
	fw.Write(file)
	mw.Close()
	req := httptest.NewRequest("POST", "/api/v1/images", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

// FuzzUpload throws arbitrary keys and bodies at the multipart and raw
// upload routes: the server must never fail with 500 or panic, must answer
// with a JSON error for anything it refuses, and must return exactly the
// stored bytes for anything it accepts.
func FuzzUpload(f *testing.F) {
	fx := newAPIFixture(f, 256<<10)
	var png1 bytes.Buffer
	jpeg.Encode(&png1, image.NewGray(image.Rect(0, 0, 3, 3)), nil)
	f.Add("cat", png1.Bytes(), true)
	f.Add("a/b c", png1.Bytes()[:20], false)
	f.Add("", []byte("GIF89a"), true)
	f.Add("k\x00", []byte{0x89, 'P', 'N', 'G'}, false)
	f.Fuzz(func(t *testing.T, key string, data []byte, multipartForm bool) {
		var req *http.Request
		if multipartForm {
			req = uploadRequest(key, data)
		} else {
			req = httptest.NewRequest("PUT", "/api/v1/images/x", bytes.NewReader(data))
			req.URL.Path = "/api/v1/images/" + key
			req.URL.RawPath = ""
		}
		rec := fx.serve(req)
		switch {
		case rec.Code == http.StatusCreated:
			var img struct{ Key string }
			json.Unmarshal(rec.Body.Bytes(), &img)
			get := httptest.NewRequest("GET", "/api/v1/images/x", nil)
			get.URL.Path = "/api/v1/images/" + img.Key
			got := fx.serve(get)
			// What is stored is the upload stripped of its metadata.
			want := data
			if st, err := imaging.Strip(data); err == nil {
				want = st.Data
			}
			if got.Code == http.StatusOK && !bytes.Equal(got.Body.Bytes(), want) {
				t.Fatalf("stored %d bytes, read back %d different ones", len(want), got.Body.Len())
			}
		case rec.Code >= 500:
			t.Fatalf("status %d for key %q and %d bytes: %s", rec.Code, key, len(data), rec.Body)
		default:
			if !strings.Contains(rec.Body.String(), `"error"`) {
				t.Fatalf("status %d without a JSON error: %s", rec.Code, rec.Body)
			}
		}
	})
}

func TestAPI_KeyWithSlashesAndEscapes(t *testing.T) {
	fx := newAPIFixture(t, 0)
	photo := photo100KB(t)
	for _, key := range []string{"a/b/c.jpg", "a%2Fb", "with space", "q?x=1#frag", "ünï/cödé", ".", "..", "a//b", "a/../b", "/lead", "trail/", "%zz"} {
		req := httptest.NewRequest("PUT", "/api/v1/images/"+escapeKey(key), bytes.NewReader(photo))
		if rec := fx.serve(req); rec.Code != http.StatusCreated {
			t.Fatalf("PUT %q: %d %s", key, rec.Code, rec.Body)
		}
		rec := fx.serve(httptest.NewRequest("GET", "/api/v1/info/"+escapeKey(key), nil))
		var img struct{ Key string }
		json.Unmarshal(rec.Body.Bytes(), &img)
		if rec.Code != http.StatusOK || img.Key != key {
			t.Fatalf("info %q: %d, key %q", key, rec.Code, img.Key)
		}
	}
}

// escapeKey escapes a key for a path the way most clients do: every
// segment escaped, slashes kept.
func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// BenchmarkUpload100KB measures a PUT of a 100 KB JPEG through the whole
// handler: auth, content check (full decode), thumbnail, fsync'd blob
// write and SQLite commit.
func BenchmarkUpload100KB(b *testing.B) {
	fx := newAPIFixture(b, 0)
	photo := photo100KB(b)
	b.SetBytes(int64(len(photo)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req := httptest.NewRequest("PUT", "/api/v1/images/k"+string(rune('a'+i%26)), bytes.NewReader(photo))
		if rec := fx.serve(req); rec.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkGet100KB measures a GET of a 100 KB image through the handler
// with no cache configured: auth, metadata lookup and a blob read.
func BenchmarkGet100KB(b *testing.B) {
	fx := newAPIFixture(b, 0)
	photo := photo100KB(b)
	if rec := fx.serve(httptest.NewRequest("PUT", "/api/v1/images/k", bytes.NewReader(photo))); rec.Code != http.StatusCreated {
		b.Fatal(rec.Body)
	}
	b.SetBytes(int64(len(photo)))
	b.ReportAllocs()
	for b.Loop() {
		rec := fx.serve(httptest.NewRequest("GET", "/api/v1/images/k", nil))
		if rec.Code != http.StatusOK || rec.Body.Len() != len(photo) {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkGet100KBCached is BenchmarkGet100KB with the image in a cache
// node (served in-process over loopback): auth, a pool hit, no stores.
func BenchmarkGet100KBCached(b *testing.B) {
	fx := newAPIFixture(b, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	node := &cache.Server{Store: cache.NewStore(cache.StoreConfig{Capacity: 64 << 20}), Logger: slog.New(slog.DiscardHandler)}
	go node.Serve(ln)
	b.Cleanup(func() { node.Close() })
	c := &pool.Client{Logger: slog.New(slog.DiscardHandler)}
	b.Cleanup(func() { c.Close() })
	c.SetLayout(1, []pool.NodeInfo{{ID: "n1", Addr: ln.Addr().String()}})
	fx.srv.Images.Cache = c
	photo := photo100KB(b)
	if rec := fx.serve(httptest.NewRequest("PUT", "/api/v1/images/k", bytes.NewReader(photo))); rec.Code != http.StatusCreated {
		b.Fatal(rec.Body)
	}
	b.SetBytes(int64(len(photo)))
	b.ReportAllocs()
	for b.Loop() {
		rec := fx.serve(httptest.NewRequest("GET", "/api/v1/images/k", nil))
		if rec.Code != http.StatusOK || rec.Body.Len() != len(photo) {
			b.Fatalf("status %d", rec.Code)
		}
	}
	if got := c.Counters(); got.Misses > 0 {
		b.Fatalf("%d misses; the benchmark should read from the cache", got.Misses)
	}
}

// TestServeImage_PlainGet checks that a GET without conditions or ranges,
// written directly, has ServeContent's status, headers and body, and that
// conditional and range requests still get ServeContent's answers.
func TestServeImage_PlainGet(t *testing.T) {
	img := &pixpool.Image{Checksum: "abc", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	data := bytes.Repeat([]byte("0123456789"), 10000)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := httptest.NewRequest(method, "/raw", nil)
		got := httptest.NewRecorder()
		serveImage(got, r, img, data, "image/jpeg")
		want := httptest.NewRecorder()
		want.Header().Set("Content-Type", "image/jpeg")
		want.Header().Set("ETag", etag(img))
		http.ServeContent(want, r, "", img.CreatedAt, bytes.NewReader(data))
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) {
			t.Fatalf("%s: %d, %d bytes; want %d, %d bytes", method, got.Code, got.Body.Len(), want.Code, want.Body.Len())
		}
		for name := range want.Header() {
			if got.Header().Get(name) != want.Header().Get(name) {
				t.Fatalf("%s: %s=%q, want %q", method, name, got.Header().Get(name), want.Header().Get(name))
			}
		}
	}
	for _, tc := range []struct {
		header, value string
		want          int
	}{
		{"If-None-Match", `"abc"`, http.StatusNotModified},
		{"If-Modified-Since", img.CreatedAt.Format(http.TimeFormat), http.StatusNotModified},
		{"Range", "bytes=0-9", http.StatusPartialContent},
		{"If-Match", `"other"`, http.StatusPreconditionFailed},
	} {
		r := httptest.NewRequest(http.MethodGet, "/raw", nil)
		r.Header.Set(tc.header, tc.value)
		got := httptest.NewRecorder()
		serveImage(got, r, img, data, "image/jpeg")
		if got.Code != tc.want {
			t.Fatalf("%s: %q: status %d, want %d", tc.header, tc.value, got.Code, tc.want)
		}
	}
}
