package http

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// TestCompat_AnonymousRights: a credential-less call has exactly the
// compatibility account's rights, and its admin powers (the pool
// endpoints, a delete_all of everyone's images) only under CompatAdmin.
func TestCompat_AnonymousRights(t *testing.T) {
	mine, hers := []string{"admin.png"}, []string{"alice.png"}

	t.Run("OrdinaryAccount", func(t *testing.T) {
		f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "alice"})
		f.seed()
		before := settingsOf(f.mgr)
		for _, p := range []string{"/api/configure_cache?cacheSize=2&policy=rr", "/api/getNumNodes", "/api/getRate?rate=miss"} {
			for _, method := range []string{"GET", "POST"} {
				status, b := f.do(method, p, "", "")
				wantCompatError(t, status, b, 403)
			}
		}
		if got := settingsOf(f.mgr); got != before {
			t.Fatalf("anonymous configure_cache changed %+v to %+v", before, got)
		}
		// delete_all deletes alice's images only.
		if status, b := f.do("POST", "/api/delete_all", "", ""); status != 200 {
			t.Fatalf("delete_all: %d %s", status, b)
		}
		f.wantKeys(mine, nil)
	})

	t.Run("AdminAccountWithoutCompatAdmin", func(t *testing.T) {
		f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "admin"})
		f.seed()
		status, b := f.do("GET", "/api/configure_cache?cacheSize=2", "", "")
		wantCompatError(t, status, b, 403)
		// delete_all deletes the admin's own images only.
		if status, b := f.do("GET", "/api/delete_all", "", ""); status != 200 {
			t.Fatalf("delete_all: %d %s", status, b)
		}
		f.wantKeys(nil, hers)
		// The admin's own key keeps the admin's powers.
		if status, b := f.do("POST", "/api/delete_all", f.adminKey, ""); status != 200 {
			t.Fatalf("admin's delete_all: %d %s", status, b)
		}
		f.wantKeys(nil, nil)
	})

	t.Run("CompatAdmin", func(t *testing.T) {
		f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "admin", compatAdmin: true})
		f.seed()
		if status, b := f.do("GET", "/api/configure_cache?cacheSize=2&policy=rr", "", ""); status != 200 {
			t.Fatalf("configure_cache: %d %s", status, b)
		}
		if st := settingsOf(f.mgr); st.capacity != 2 || st.policy != "rr" {
			t.Fatalf("pool after configure_cache: %+v", st)
		}
		if status, b := f.do("GET", "/api/delete_all", "", ""); status != 200 {
			t.Fatalf("delete_all: %d %s", status, b)
		}
		f.wantKeys(nil, nil)
	})
}

// TestCompat_CookieChanges: a session cookie never changes state with
// GET, and a POST with it needs the session's CSRF token and must not be
// cross-site, as the web forms; API keys and credential-less callers keep
// GET and POST.
func TestCompat_CookieChanges(t *testing.T) {
	for _, compatUser := range []string{"", "alice"} {
		t.Run("CompatUser="+compatUser, func(t *testing.T) {
			f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: compatUser, compatAdmin: false})
			f.seed()
			_, sess, token, err := f.env.Accounts.Login(context.Background(), "admin", "correct horse", "192.0.2.1")
			if err != nil {
				t.Fatal(err)
			}
			cookie := SessionCookie + "=" + token
			before := settingsOf(f.mgr)
			unchanged := func(what string) {
				t.Helper()
				f.wantKeys([]string{"admin.png"}, []string{"alice.png"})
				if got := settingsOf(f.mgr); got != before {
					t.Fatalf("%s changed the pool %+v to %+v", what, before, got)
				}
			}
			refused := func(what, method, path, body string, header ...string) {
				t.Helper()
				status, b := f.do(method, path, "", body, append([]string{"Cookie", cookie}, header...)...)
				wantCompatError(t, status, b, 403)
				unchanged(what)
			}
			form := "application/x-www-form-urlencoded"
			for _, path := range []string{"/api/delete_all?", "/api/configure_cache?cacheSize=2&policy=rr"} {
				// A link or redirect from another site: a top-level GET.
				refused("cross-site GET "+path, "GET", path, "", "Sec-Fetch-Site", "cross-site")
				refused("cross-site GET "+path, "GET", path+"&csrf="+url.QueryEscape(sess.CSRFToken), "", "Sec-Fetch-Site", "cross-site")
				// GET never changes state with a cookie, even same-origin
				// and with the token.
				refused("GET "+path, "GET", path, "")
				refused("GET "+path, "GET", path, "", "Sec-Fetch-Site", "same-origin", "X-CSRF-Token", sess.CSRFToken)
				// Nor does any method but GET and POST, for anyone.
				for _, apiKey := range []string{"", f.adminKey} {
					for _, method := range []string{"HEAD", "OPTIONS", "PUT", "DELETE"} {
						if status, _ := f.do(method, path, apiKey, "", "Cookie", cookie); status != 400 {
							t.Fatalf("%s %s: %d, want 400", method, path, status)
						}
						unchanged(method + " " + path)
					}
				}
				// A cross-site form POST, with Sec-Fetch-Site or only Origin.
				refused("cross-site POST "+path, "POST", path, "x=1", "Sec-Fetch-Site", "cross-site", "Content-Type", form)
				refused("cross-origin POST "+path, "POST", path, "x=1", "Origin", "https://evil.example", "Content-Type", form)
				// A POST without the token, or with a wrong one.
				refused("POST without token "+path, "POST", path, "", "Sec-Fetch-Site", "same-origin")
				refused("POST without token "+path, "POST", path, "")
				refused("POST with a wrong token "+path, "POST", path, "", "X-CSRF-Token", "forged")
				refused("POST with a wrong token "+path, "POST", path, "csrf=forged", "Content-Type", form)
			}
			status, b := f.do("GET", "/api/delete_all", "", "", "Cookie", cookie)
			wantCompatError(t, status, b, 403)
			if !strings.Contains(string(b), "GET") || !strings.Contains(string(b), "CSRF") {
				t.Fatalf("GET with a cookie: %s, want a message saying why", b)
			}
			status, b = f.do("POST", "/api/delete_all", "", "", "Cookie", cookie)
			if !strings.Contains(string(b), "X-CSRF-Token") {
				t.Fatalf("POST without token: %d %s, want a message saying how", status, b)
			}
			// An upload needs the token too: header or query.
			status, b = f.compatUpload("", "new.png", "Cookie", cookie)
			wantCompatError(t, status, b, 403)
			unchanged("upload without token")

			// Reading with the cookie is fine with GET.
			for _, p := range []string{"/api/list_keys", "/api/key/admin.png", "/api/getNumNodes", "/api/getRate?rate=miss"} {
				if status, b := f.do("GET", p, "", "", "Cookie", cookie); status != 200 {
					t.Fatalf("GET %s with a cookie: %d %s", p, status, b)
				}
			}

			// The legitimate ways: POST with the token in the header, the
			// query or the form.
			if status, b := f.compatUpload("", "new.png", "Cookie", cookie, "X-CSRF-Token", sess.CSRFToken); status != 200 {
				t.Fatalf("upload with token: %d %s", status, b)
			}
			if status, b := f.do("POST", "/api/configure_cache?cacheSize=2&policy=rr", "", "", "Cookie", cookie,
				"X-CSRF-Token", sess.CSRFToken, "Sec-Fetch-Site", "same-origin"); status != 200 {
				t.Fatalf("configure_cache with token: %d %s", status, b)
			}
			if st := settingsOf(f.mgr); st.capacity != 2 || st.policy != "rr" {
				t.Fatalf("pool after configure_cache: %+v", st)
			}
			if status, b := f.do("POST", "/api/configure_cache", "", "cacheSize=3&csrf="+url.QueryEscape(sess.CSRFToken),
				"Cookie", cookie, "Content-Type", form); status != 200 || settingsOf(f.mgr).capacity != 3 {
				t.Fatalf("configure_cache with a form token: %d %s", status, b)
			}
			if status, b := f.do("POST", "/api/delete_all", "", "csrf="+url.QueryEscape(sess.CSRFToken),
				"Cookie", cookie, "Content-Type", form); status != 200 {
				t.Fatalf("delete_all with token: %d %s", status, b)
			}
			f.wantKeys(nil, nil)

			// API keys are not sent by browsers on their own: GET and POST.
			f.seed()
			if status, b := f.do("GET", "/api/delete_all", f.adminKey, ""); status != 200 {
				t.Fatalf("GET delete_all with an API key: %d %s", status, b)
			}
			f.wantKeys(nil, nil)
			if status, b := f.do("GET", "/api/configure_cache?cacheSize=4", f.adminKey, ""); status != 200 || settingsOf(f.mgr).capacity != 4 {
				t.Fatalf("GET configure_cache with an API key: %d %s", status, b)
			}
		})
	}
}

// TestCompat_AnonymousCrossSite: under CompatUser a credential-less GET
// may change state (the course's tester does), but not one a browser
// marks as coming from another site: a page elsewhere cannot make a
// visitor's browser call the compatibility API.
func TestCompat_AnonymousCrossSite(t *testing.T) {
	f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "admin", compatAdmin: true})
	f.seed()
	before := settingsOf(f.mgr)
	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "https://evil.example"}} {
		for _, method := range []string{"GET", "POST"} {
			for _, path := range []string{"/api/delete_all", "/api/configure_cache?cacheSize=2"} {
				status, b := f.do(method, path, "", "", h...)
				wantCompatError(t, status, b, 403)
			}
			status, b := f.compatUpload("", "evil.png", h...)
			wantCompatError(t, status, b, 403)
		}
	}
	f.wantKeys([]string{"admin.png"}, []string{"alice.png"})
	if got := settingsOf(f.mgr); got != before {
		t.Fatalf("cross-site calls changed the pool %+v to %+v", before, got)
	}
	// Reading stays open, and the tester's own calls (no browser headers)
	// work, as do a browser's same-origin ones.
	if status, b := f.do("GET", "/api/list_keys", "", "", "Sec-Fetch-Site", "cross-site"); status != 200 {
		t.Fatalf("cross-site list_keys: %d %s", status, b)
	}
	if status, b := f.do("GET", "/api/delete_all", "", "", "Sec-Fetch-Site", "same-origin"); status != 200 {
		t.Fatalf("same-origin delete_all: %d %s", status, b)
	}
	f.wantKeys(nil, nil)
	if status, b := f.do("GET", "/api/configure_cache?cacheSize=2", "", ""); status != 200 {
		t.Fatalf("tester's configure_cache: %d %s", status, b)
	}
}

func TestCompat_Auth(t *testing.T) {
	paths := []string{"/api/getNumNodes", "/api/getRate?rate=miss", "/api/configure_cache"}

	t.Run("Off", func(t *testing.T) {
		f := newPoolFixture(t, fixtureConfig{pool: staticPool})
		for _, p := range paths {
			status, b := f.do("POST", p, "", "")
			wantCompatError(t, status, b, 401)
			status, b = f.do("POST", p, f.aliceKey, "")
			wantCompatError(t, status, b, 403)
			status, b = f.do("POST", p, "pp_forged", "")
			wantCompatError(t, status, b, 401)
			if status, b := f.do("POST", p, f.adminKey, ""); status != 200 {
				t.Fatalf("admin: %d %s", status, b)
			}
		}
		// An admin's session works as well as a key.
		_, _, token, err := f.env.Accounts.Login(context.Background(), "admin", "correct horse", "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if status, b := f.do("POST", "/api/getNumNodes", "", "", "Cookie", SessionCookie+"="+token); status != 200 {
			t.Fatalf("admin session: %d %s", status, b)
		}
	})

	t.Run("CompatAdmin", func(t *testing.T) {
		f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "root", compatAdmin: true, adminName: "root"})
		for _, p := range paths {
			if status, b := f.do("POST", p, "", ""); status != 200 {
				t.Fatalf("credential-less %s: %d %s", p, status, b)
			}
			// Credentials given are still checked.
			status, b := f.do("POST", p, f.aliceKey, "")
			wantCompatError(t, status, b, 403)
			status, b = f.do("POST", p, "pp_forged", "")
			wantCompatError(t, status, b, 401)
		}
	})

	t.Run("CompatUserAdminWithoutCompatAdmin", func(t *testing.T) {
		// The compatibility account is an admin, but its admin powers are
		// not lent to anonymous callers without CompatAdmin.
		f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "root", adminName: "root"})
		for _, p := range paths {
			status, b := f.do("POST", p, "", "")
			wantCompatError(t, status, b, 403)
			if !strings.Contains(string(b), "--compat-admin") {
				t.Fatalf("credential-less %s: %s, want it to name --compat-admin", p, b)
			}
			if status, b := f.do("POST", p, f.adminKey, ""); status != 200 {
				t.Fatalf("admin's key: %d %s", status, b)
			}
		}
	})

	t.Run("CompatUserNotAdmin", func(t *testing.T) {
		// An ordinary compatibility account: the pool endpoints refuse
		// anonymous calls, with CompatAdmin or without; nothing falls back
		// to the "admin" account.
		for _, compatAdmin := range []bool{false, true} {
			f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "alice", compatAdmin: compatAdmin})
			for _, p := range paths {
				status, b := f.do("POST", p, "", "")
				wantCompatError(t, status, b, 403)
			}
			// The other compatibility routes act as alice.
			status, b := f.do("POST", "/api/list_keys", "", "")
			if status != 200 {
				t.Fatalf("list_keys: %d %s", status, b)
			}
			wantJSON(t, b, `{"success":"true","keys":[]}`)
		}
	})

	t.Run("DisabledAdmin", func(t *testing.T) {
		f := newPoolFixture(t, fixtureConfig{pool: staticPool, compatUser: "root", compatAdmin: true, adminName: "root"})
		f.admin.Disabled = true
		if err := f.env.Store.UpdateUser(context.Background(), f.admin); err != nil {
			t.Fatal(err)
		}
		status, b := f.do("POST", "/api/getNumNodes", "", "")
		wantCompatError(t, status, b, 401)
	})

	t.Run("NoPool", func(t *testing.T) {
		f := newPoolFixture(t, fixtureConfig{pool: noPool})
		status, b := f.do("POST", "/api/getNumNodes", f.adminKey, "")
		if status != 200 {
			t.Fatalf("getNumNodes: %d %s", status, b)
		}
		wantJSON(t, b, `{"success":"true","numNodes":0}`)
		status, b = f.do("POST", "/api/getRate?rate=miss", f.adminKey, "")
		if status != 200 {
			t.Fatalf("getRate: %d %s", status, b)
		}
		wantJSON(t, b, `{"success":"true","rate":"miss","value":0}`)
		status, b = f.do("POST", "/api/configure_cache?numNodes=2", f.adminKey, "")
		wantCompatError(t, status, b, 503) // unavailable, as on /api/v1 (the contract's 500 is for internal errors)
	})
}
