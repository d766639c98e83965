package http

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestShare_NoUploadTime: the shared bytes and thumbnails do not tell
// when their owner uploaded them (docs/sharing.md promises it): no
// Last-Modified, whether the request is plain or conditional.
func TestShare_NoUploadTime(t *testing.T) {
	e := newShareEnv(t)
	_, link := e.share(t, e.ada, url.Values{"kind": {"album"}, "key": {"cats/"}, "expires": {"never"}})
	resp, body := e.stranger.get(link)
	wantStatus(t, resp, body, http.StatusOK)
	ticket := url.Values{"v": {ticketOf(t, body)}, "key": {"cats/tom"}}.Encode()
	for _, p := range []string{"/raw?", "/thumb?"} {
		for _, h := range []map[string]string{nil, {"Range": "bytes=0-9"}, {"If-None-Match": `"x"`}} {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+link+p+ticket, nil)
			for k, v := range h {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
				t.Fatalf("%s %v: %d", p, h, resp.StatusCode)
			}
			if lm := resp.Header.Get("Last-Modified"); lm != "" {
				t.Fatalf("%s %v: Last-Modified %q tells the upload time", p, h, lm)
			}
		}
	}
}

// ticketOf returns the visit ticket of a share page's links.
func ticketOf(t *testing.T, body string) string {
	t.Helper()
	for _, n := range elements(parseHTML(t, body), "a") {
		href, _ := attrValue(n, "href")
		if u, err := url.Parse(href); err == nil && u.Query().Get("v") != "" {
			return u.Query().Get("v")
		}
	}
	t.Fatalf("no link with a visit ticket in:\n%s", body)
	return ""
}

// TestShare_GoneJSON: a script asking for JSON is told why a link no
// longer works in words, as the page says it, with the status as a
// separate field.
func TestShare_GoneJSON(t *testing.T) {
	e := newShareEnv(t)
	id, link := e.share(t, e.ada, url.Values{"kind": {"image"}, "key": {"cats/tom"}, "expires": {"never"}})
	e.ada.post("/shares/revoke", url.Values{"id": {strconv.FormatInt(id, 10)}, "csrf": {e.ada.csrf()}})
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+link, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Error struct{ Code, Message, Status string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusGone {
		t.Fatalf("%d, %v", resp.StatusCode, err)
	}
	if got.Error.Code != "gone" || got.Error.Status != "revoked" || !strings.Contains(got.Error.Message, "turned this link off") {
		t.Fatalf("error %+v; want code gone, status revoked and the page's words", got.Error)
	}
}
