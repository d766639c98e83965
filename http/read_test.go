package http

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// TestWriteCompatContent checks that the one-buffer writer answers byte
// for byte what writeJSON does.
func TestWriteCompatContent(t *testing.T) {
	for _, key := range []string{"a", "dir/photo.jpg", `<b>&"quote"\`, "ünïcødé ☃", "tab\tnl\n", ""} {
		for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0xff, 0, 'a'}, 3000)} {
			want := httptest.NewRecorder()
			writeJSON(want, http.StatusOK, map[string]string{"success": "true", "key": key, "content": b64(data)})
			for range 2 { // the second reuses the buffer
				got := httptest.NewRecorder()
				writeCompatContent(got, key, data)
				if got.Body.String() != want.Body.String() {
					t.Fatalf("key %q, %d bytes: body\n%.200q\nwant\n%.200q", key, len(data), got.Body, want.Body)
				}
				for _, h := range []string{"Content-Type", "X-Content-Type-Options"} {
					if got.Header().Get(h) != want.Header().Get(h) {
						t.Fatalf("%s=%q, want %q", h, got.Header().Get(h), want.Header().Get(h))
					}
				}
				if got.Code != http.StatusOK {
					t.Fatalf("status %d", got.Code)
				}
			}
		}
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

func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
