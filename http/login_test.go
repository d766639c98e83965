package http

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// TestWeb_LoginXFFSpoof: behind a trusted proxy, a client that writes its
// own X-Forwarded-For entries keeps one budget (issue 11, item 6: the
// left-most entry was used, so each guess could pick a fresh address).
func TestWeb_LoginXFFSpoof(t *testing.T) {
	srv, ts := newTestServer(t) // the test client connects from 127.0.0.1
	srv.TrustedProxies = LocalProxies
	srv.Accounts.Throttle.Client = pixpool.AttemptLimit{Free: 3, Delay: time.Minute, MaxDelay: time.Hour, Forget: time.Hour}
	c := newBrowser(t, ts)
	status := func(user, spoof string) int {
		resp, _ := c.post("/login", url.Values{"username": {user}, "password": {"guess"}},
			"X-Forwarded-For", spoof+", 203.0.113.7")
		return resp.StatusCode
	}
	for i := range 3 {
		if got := status(fmt.Sprintf("user%d", i), fmt.Sprintf("198.51.100.%d", i)); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d", i+1, got)
		}
	}
	if got := status("user9", "192.0.2.99"); got != http.StatusTooManyRequests {
		t.Fatalf("guess past the budget with a new left entry: status %d, want 429", got)
	}
	// Another client behind the same proxy is not held up.
	resp, _ := c.post("/login", url.Values{"username": {"user9"}, "password": {"guess"}}, "X-Forwarded-For", "203.0.113.8")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another client: status %d", resp.StatusCode)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/images?x=1": "/images?x=1", "/": "/", "/profile": "/profile", "/admin/": "/admin/",
		"/images?prefix=a%2Fb": "/images?prefix=a%2Fb", "/a/./b/../c": "/a/c",
		"/image?key=%5C": "/image?key=%5C", // a backslash in the query stays on the site
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
	for _, in := range hostileNext {
		if got := localPath(in); got != "/" {
			t.Errorf("localPath(%q) = %q, want /", in, got)
		}
	}
}

// hostileNext are "next" values that must not leave the site, as typed in
// a form or a query string (already decoded once).
var hostileNext = []string{
	"//evil.example", "///evil.example", "https://evil.example/", "http:evil.example", "javascript:alert(1)",
	`/\evil.example`, `/./\evil.example`, `/.\evil.example`, `/a/../\evil.example`, `/\/evil.example`,
	"/./%5Cevil.example", "/%5Cevil.example", "/%5cevil.example", "/%255Cevil.example", "/%2F%2Fevil.example",
	"/.//evil.example", "/a/..//evil.example", "/%2e/%2fevil.example", "/%252F%252Fevil.example",
	"/\tevil", "/\t/evil.example", "/\n/evil.example", "/\r//evil.example", "/\x00//evil.example",
	"/%09/evil.example", "/%0a/evil.example", "images", "", " /images", "\\\\evil.example",
	"//evil.example/%2e%2e", "/images//x",
}

// TestWeb_LoginNextHostile: no "next" leaves the site, neither after a
// login nor at once for a user already logged in (issue 11, item 5:
// /login?next=/./%5Cevil.example answered Location: /\evil.example).
func TestWeb_LoginNextHostile(t *testing.T) {
	_, ts := newTestServer(t)
	ada := newBrowser(t, ts)
	ada.signUp("ada")
	for _, next := range hostileNext {
		resp, _ := ada.get("/login?" + url.Values{"next": {next}}.Encode())
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("logged in, GET /login?next=%q: Location %q, want /", next, loc)
		}
		c := newBrowser(t, ts)
		if resp := c.login("ada", "correct horse battery", next); resp.Header.Get("Location") != "/" {
			t.Errorf("login with next=%q: Location %q, want /", next, resp.Header.Get("Location"))
		}
	}
	// The raw query of the report, not re-encoded by url.Values.
	resp, _ := ada.get("/login?next=/./%5Cevil.example")
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Errorf("GET /login?next=/./%%5Cevil.example: Location %q, want /", loc)
	}
}

// TestWeb_DeviceCookie: a login sets an HttpOnly device cookie for /login
// only; with it the owner logs in while strangers' guessing holds the
// account's shared budget, which keeps out a browser without one (issue
// 11, item 6).
func TestWeb_DeviceCookie(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.Accounts.Throttle.Account = pixpool.AttemptLimit{Free: 2, Delay: time.Hour, MaxDelay: time.Hour, Forget: time.Hour}
	owner := newBrowser(t, ts)
	owner.signUp("ada")
	resp := owner.login("ada", "correct horse battery", "/")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: status %d", resp.StatusCode)
	}
	var dev *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == DeviceCookie {
			dev = c
		}
	}
	if dev == nil || !dev.HttpOnly || dev.Path != "/login" || dev.SameSite != http.SameSiteLaxMode || dev.MaxAge <= 0 {
		t.Fatalf("device cookie %+v, want HttpOnly, SameSite=Lax, for /login, lasting", dev)
	}
	attacker := newBrowser(t, ts)
	for i := 0; ; i++ {
		if resp := attacker.login("ada", "wrong guess", "/"); resp.StatusCode == http.StatusTooManyRequests {
			break
		} else if i == 5 {
			t.Fatalf("guess %d: status %d, want 429 at last", i, resp.StatusCode)
		}
	}
	if resp := newBrowser(t, ts).login("ada", "correct horse battery", "/"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("owner on a new browser: status %d, want 429", resp.StatusCode)
	}
	if resp := owner.login("ada", "correct horse battery", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner on her browser: status %d, want 303", resp.StatusCode)
	}
}
