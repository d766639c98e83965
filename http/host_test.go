package http

import (
	"net/http"
	"strings"
	"testing"
)

// TestCompat_DNSRebinding: a page on attacker.example, whose name the
// attacker has pointed at this server, is same-origin with it, so its
// browser's headers pass the cross-origin protection; credential-less
// compatibility calls for that name are refused all the same, while
// localhost and IP addresses still work, as do calls with an API key and
// the web pages (Server.Hosts is not set).
func TestCompat_DNSRebinding(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "admin", compatAdmin: true})
	f.seed()
	port := f.ts.URL[strings.LastIndex(f.ts.URL, ":")+1:]
	before := settingsOf(f.mgr)
	rebound := []string{"Host", "attacker.example:" + port, "Sec-Fetch-Site", "same-origin", "Origin", "http://attacker.example:" + port}
	for _, method := range []string{"GET", "POST"} {
		for _, path := range []string{"/api/delete_all", "/api/configure_cache?cacheSize=2", "/api/list_keys", "/api/key/admin.png", "/api/getNumNodes"} {
			status, b := f.do(method, path, "", "", rebound...)
			wantCompatError(t, status, b, 403)
			if !strings.Contains(string(b), "--host") {
				t.Errorf("%s %s refused without naming --host: %s", method, path, b)
			}
		}
		status, b := f.compatUpload("", "evil.png", rebound...)
		wantCompatError(t, status, b, 403)
	}
	f.wantKeys([]string{"admin.png"}, []string{"alice.png"})
	if got := settingsOf(f.mgr); got != before {
		t.Fatalf("rebound calls changed the pool %+v to %+v", before, got)
	}

	// A key is the caller's own; the pages answer for any name without
	// --host (a deployment under a domain that has not set it).
	if status, b := f.do("GET", "/api/list_keys", f.aliceKey, "", rebound...); status != 200 {
		t.Fatalf("list_keys with an API key for a name: %d %s", status, b)
	}
	if status, b := f.do("GET", "/login", "", "", "Host", "photos.example.com"); status != 200 {
		t.Fatalf("the login page for a name: %d %s", status, b)
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "pixpool.localhost:" + port} {
		if status, b := f.do("GET", "/api/list_keys", "", "", "Host", host, "Sec-Fetch-Site", "same-origin"); status != 200 {
			t.Fatalf("list_keys for %s: %d %s", host, status, b)
		}
	}
	if status, b := f.do("POST", "/api/delete_all", "", "", "Host", "localhost:"+port, "Sec-Fetch-Site", "same-origin", "Origin", "http://localhost:"+port); status != 200 {
		t.Fatalf("delete_all for localhost: %d %s", status, b)
	}
	f.wantKeys(nil, nil)
}

// TestServer_Hosts: with Server.Hosts set the server answers for those
// names, localhost and IP addresses, and refuses any other name on every
// route, with or without credentials.
func TestServer_Hosts(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: noPool, compatUser: "alice", hosts: []string{"photos.example.com"}})
	f.seed()
	for _, host := range []string{"photos.example.com", "Photos.Example.com.:443", "localhost", "127.0.0.1"} {
		if status, b := f.do("GET", "/api/list_keys", "", "", "Host", host); status != 200 {
			t.Errorf("credential-less list_keys for %s: %d %s", host, status, b)
		}
		if status, b := f.do("GET", "/api/v1/me", f.aliceKey, "", "Host", host); status != 200 {
			t.Errorf("/api/v1/me for %s: %d %s", host, status, b)
		}
	}
	for _, path := range []string{"/api/list_keys", "/api/v1/me", "/login", "/healthz"} {
		for _, key := range []string{"", f.aliceKey} {
			status, b := f.do("GET", path, key, "", "Host", "attacker.example")
			if status != http.StatusForbidden || !strings.Contains(string(b), "attacker.example") {
				t.Errorf("%s for attacker.example (key %t): %d %s, want 403 naming the host", path, key != "", status, b)
			}
		}
	}
	status, b := f.do("POST", "/api/delete_all", "", "", "Host", "attacker.example", "Sec-Fetch-Site", "same-origin", "Origin", "http://attacker.example")
	wantCompatError(t, status, b, 403)
	f.wantKeys([]string{"admin.png"}, []string{"alice.png"})
}
