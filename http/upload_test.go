package http

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestWeb_UploadErrors(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.Images.MaxBytes = 4 << 10
	b := newBrowser(t, ts)
	b.signUp("ada")
	csrf := b.csrf()
	xhr := []string{"X-Requested-With", "XMLHttpRequest"}

	t.Run("Form", func(t *testing.T) {
		resp, body := b.upload(csrf, "notes", []byte("just some text, not an image"))
		wantStatus(t, resp, body, http.StatusUnsupportedMediaType)
		wantContains(t, body, "The file is not a JPEG, PNG, GIF or WebP image.", `value="notes"`, "4.0 KiB")
		resp, body = b.upload(csrf, "", testPNG(t, 8, 8, 1))
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Key is required.")
		resp, body = b.upload(csrf, "big", noisyPNG(t, 64, 64))
		wantStatus(t, resp, body, http.StatusRequestEntityTooLarge)
		wantContains(t, body, "larger than the limit of 4.0 KiB")
	})
	t.Run("XHR", func(t *testing.T) {
		key := "a/b c?d#e"
		resp, body := b.upload(csrf, key, testPNG(t, 8, 8, 1), xhr...)
		wantStatus(t, resp, body, http.StatusOK)
		var ok struct {
			OK  bool   `json:"ok"`
			URL string `json:"url"`
		}
		if err := json.Unmarshal([]byte(body), &ok); err != nil || !ok.OK || ok.URL != imageURL(key) {
			t.Fatalf("XHR upload answered %s (%v), want ok and url %q", body, err, imageURL(key))
		}
		if resp, _ := b.get(ok.URL); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d", ok.URL, resp.StatusCode)
		}

		for _, tc := range []struct {
			data   []byte
			status int
			code   string
		}{
			{[]byte("GIF89a but not really"), http.StatusBadRequest, "invalid"},
			{[]byte("plain text"), http.StatusUnsupportedMediaType, "unsupported"},
			{noisyPNG(t, 64, 64), http.StatusRequestEntityTooLarge, "too_large"},
		} {
			resp, body := b.upload(csrf, "x", tc.data, "Accept", "application/json")
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || resp.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Errorf("XHR upload of %d bytes: status %d, body %s; want %d with code %q", len(tc.data), resp.StatusCode, body, tc.status, tc.code)
			}
		}
		resp, body = b.upload("", "x", testPNG(t, 8, 8, 1), xhr...)
		wantStatus(t, resp, body, http.StatusForbidden)
		if !strings.Contains(body, `"code":"forbidden"`) {
			t.Fatalf("XHR upload without token answered %s, want JSON", body)
		}
	})
}
