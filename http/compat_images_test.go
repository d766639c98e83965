package http

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
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

func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
