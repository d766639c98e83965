package http

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// TestAPI_SearchTooLong: /api/v1/search has the search page's limit on a
// query's length, and says so with a 400.
func TestAPI_SearchTooLong(t *testing.T) {
	srv, ts := newSearchServer(t)
	ctx := context.Background()
	u := &pixpool.User{Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.org",
		Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0000"}
	if err := srv.Accounts.CreateUser(ctx, u, "correct horse"); err != nil {
		t.Fatal(err)
	}
	_, secret, err := srv.Accounts.CreateAPIKey(ctx, u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	analysed(t, srv, "ada", "rex", []string{"dog"})
	get := func(q string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/search?"+url.Values{"q": {q}}.Encode(), nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, q := range []string{strings.Repeat("dog ", 50) + "x", strings.Repeat("x", 10<<10)} {
		status, body := get(q)
		if status != http.StatusBadRequest || !strings.Contains(body, `"code":"invalid"`) ||
			!strings.Contains(body, "The search is too long: use at most 200 bytes") {
			t.Fatalf("query of %d bytes: %d %s, want 400 saying at most 200 bytes", len(q), status, body)
		}
	}
	// At the limit, with spaces around it, it searches.
	status, body := get("  " + strings.Repeat("dog ", 50))
	if status != http.StatusOK || !strings.Contains(body, `"key":"rex"`) {
		t.Fatalf("query of 200 bytes: %d %s", status, body)
	}
}
