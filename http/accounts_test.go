package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// invite makes an invite for f's admin and returns its id.
func invite(f *poolFixture) int64 {
	inv, _, err := f.env.Accounts.CreateInvite(context.Background(), f.admin, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return inv.ID
}

// TestWeb_SetupStaleLink is issue 11, item 2, as reported: after an
// admin was made with the command line, the old setup link's token
// created "admin" with the attacker's password, who then logged in.
func TestWeb_SetupStaleLink(t *testing.T) {
	srv, ts := newTestServer(t)
	ctx := context.Background()
	token, _, err := srv.Accounts.Bootstrap(ctx, "")
	if err != nil || token == "" {
		t.Fatalf("Bootstrap()=%q, %v", token, err)
	}
	// What `pixpool user create --admin boss` does.
	boss := &pixpool.User{Username: "boss", FirstName: "Grace", LastName: "Hopper", Email: "boss@example.org",
		Birthday: time.Date(1980, 12, 9, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0001", Admin: true}
	if err := srv.Accounts.CreateUser(ctx, boss, "boss password"); err != nil {
		t.Fatal(err)
	}
	attacker := newBrowser(t, ts)
	resp, body := attacker.get("/setup?" + url.Values{"token": {token}}.Encode())
	wantStatus(t, resp, body, http.StatusNotFound)
	resp, body = attacker.post("/setup", url.Values{"token": {token}, "password": {"attacker password"}, "password_confirm": {"attacker password"}})
	wantStatus(t, resp, body, http.StatusNotFound)
	wantContains(t, body, "This setup link has been used or has expired.")
	if _, err := srv.Store.UserByUsername(ctx, "admin"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("admin account after the stale link: %v", err)
	}
	resp = attacker.login("admin", "attacker password", "/admin")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("attacker login: status %d", resp.StatusCode)
	}
}

// TestWeb_SetupNoReset: setup refuses, clearly, to touch an existing
// "admin" account.
func TestWeb_SetupNoReset(t *testing.T) {
	srv, ts := newTestServer(t)
	ctx := context.Background()
	plain := &pixpool.User{Username: "admin", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.org",
		Birthday: time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC), Phone: "+1 555 010 0002"}
	if err := srv.Accounts.CreateUser(ctx, plain, "owner password"); err != nil {
		t.Fatal(err)
	}
	token, _, _ := srv.Accounts.Bootstrap(ctx, "")
	c := newBrowser(t, ts)
	resp, body := c.post("/setup", url.Values{"token": {token}, "password": {"attacker password"}, "password_confirm": {"attacker password"}})
	wantStatus(t, resp, body, http.StatusConflict)
	wantContains(t, body, "setup never changes an existing account")
	if resp := c.login("admin", "attacker password", "/"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with the setup password: status %d", resp.StatusCode)
	}
	if resp := newBrowser(t, ts).login("admin", "owner password", "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner's login: status %d", resp.StatusCode)
	}
}

func TestClientIP(t *testing.T) {
	srv := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tt := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1"}, // not from a proxy: ignored
		{"10.0.0.2:5000", nil, "10.0.0.2"},
		{"10.0.0.2:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:5000", []string{"203.0.113.66, 198.51.100.7"}, "198.51.100.7"}, // the left entry is the client's own
		{"10.0.0.2:5000", []string{"1.1.1.1, 2.2.2.2, 198.51.100.7, 10.0.0.9"}, "198.51.100.7"},
		{"10.0.0.2:5000", []string{"203.0.113.66", "198.51.100.7, 10.1.1.1"}, "198.51.100.7"}, // several lines
		{"10.0.0.2:5000", []string{"nonsense, 198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:5000", []string{"198.51.100.7, nonsense"}, "10.0.0.2"},
		{"10.0.0.2:5000", []string{"10.0.0.3, 10.0.0.4"}, "10.0.0.3"},
		{"10.0.0.2:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"[::1]:5000", []string{"::ffff:198.51.100.7"}, "198.51.100.7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := srv.clientIP(r); got != tt.want {
			t.Errorf("clientIP(%s, %q)=%q, want %q", tt.remote, tt.xff, got, tt.want)
		}
	}
}

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

var inviteCodeRE = regexp.MustCompile(`<code class="secret-value">(inv_[A-Za-z0-9_-]+)</code>`)

// TestWeb_SignupModes drives each sign-up mode through the pages, the
// portal's form and the admin API.
func TestWeb_SignupModes(t *testing.T) {
	p := newPortal(t, noPool)

	// Open, by default: one sign-up, logged in at once.
	p.user(t, "ada")

	// The portal's form needs its token.
	resp, body := p.admin.post("/admin/signup/mode", url.Values{"mode": {"closed"}})
	wantStatus(t, resp, body, http.StatusForbidden)
	resp, body = p.admin.send("/admin/signup/mode", url.Values{"mode": {"sometimes"}})
	wantStatus(t, resp, body, http.StatusBadRequest)
	resp, body = p.admin.send("/admin/signup/mode", url.Values{"mode": {"closed"}})
	wantRedirect(t, resp, body, "/admin/signup?msg=signup-mode")
	_, body = p.admin.get("/admin/signup?msg=signup-mode")
	wantContains(t, body, "Sign-up mode saved.", `value="closed" checked`)

	// Closed: the page says so and a post is refused.
	c := newBrowser(t, p.ts)
	_, body = c.get("/signup")
	wantContains(t, body, "Sign-up is closed on this server.")
	resp, body = c.post("/signup", signupForm("bob"))
	wantStatus(t, resp, body, http.StatusForbidden)

	// Invite-only: a code from the portal makes one account.
	p.admin.send("/admin/signup/mode", url.Values{"mode": {"invite"}})
	resp, body = p.admin.send("/admin/invites", url.Values{"days": {"2"}})
	wantStatus(t, resp, body, http.StatusOK)
	m := inviteCodeRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no invite code on the page:\n%s", body)
	}
	code := m[1]
	_, body = c.get("/signup?" + url.Values{"invite": {code}}.Encode())
	wantContains(t, body, `name="invite" value="`+code+`"`)
	resp, body = c.post("/signup", signupForm("bob"))
	wantStatus(t, resp, body, http.StatusBadRequest)
	wantContains(t, body, "Sign-up is by invitation")
	form := signupForm("bob")
	form.Set("invite", "inv_wrong")
	resp, body = c.post("/signup", form)
	wantStatus(t, resp, body, http.StatusBadRequest)
	form.Set("invite", code)
	resp, body = c.post("/signup", form)
	wantRedirect(t, resp, body, "/")
	form = signupForm("cem")
	form.Set("invite", code)
	resp, body = newBrowser(t, p.ts).post("/signup", form)
	wantStatus(t, resp, body, http.StatusBadRequest)
	wantContains(t, body, "This invite code is not valid")
	_, body = p.admin.get("/admin/signup")
	wantContains(t, body, code[:10]+"…", "used")
	if strings.Contains(body, code) {
		t.Fatal("the portal shows a used code in full")
	}

	// The admin API: mode and invites.
	key := apiKey(t, p, p.boss)
	var got map[string]string
	apiCall(t, p, key, "PUT", "/api/v1/admin/signup", `{"mode":"invite"}`, http.StatusOK, &got)
	var inv struct {
		ID   int64  `json:"id"`
		Code string `json:"code"`
	}
	apiCall(t, p, key, "POST", "/api/v1/admin/invites", `{"days":1}`, http.StatusCreated, &inv)
	if !strings.HasPrefix(inv.Code, service.InvitePrefix) {
		t.Fatalf("invite code %q", inv.Code)
	}
	var list struct {
		Invites []map[string]any `json:"invites"`
	}
	apiCall(t, p, key, "GET", "/api/v1/admin/invites", "", http.StatusOK, &list)
	if len(list.Invites) != 2 || list.Invites[0]["code"] != nil || list.Invites[1]["used_by"] == nil {
		t.Fatalf("invites %v", list.Invites)
	}
	apiCall(t, p, key, "DELETE", fmt.Sprintf("/api/v1/admin/invites/%d", inv.ID), "", http.StatusNoContent, nil)
	form = signupForm("dan")
	form.Set("invite", inv.Code)
	resp, body = newBrowser(t, p.ts).post("/signup", form)
	wantStatus(t, resp, body, http.StatusBadRequest)
	apiCall(t, p, key, "PUT", "/api/v1/admin/signup", `{"mode":"open"}`, http.StatusOK, &got)
	apiCall(t, p, key, "GET", "/api/v1/admin/signup", "", http.StatusOK, &got)
	if got["mode"] != "open" {
		t.Fatalf("mode %v", got)
	}
	newBrowser(t, p.ts).signUp("dan")
}

// TestWeb_SignupRate: sign-ups from one client are paced.
func TestWeb_SignupRate(t *testing.T) {
	srv, ts := newTestServer(t)
	srv.Accounts.Throttle.Signup = pixpool.AttemptLimit{Free: 2, Delay: time.Hour, MaxDelay: time.Hour, Forget: time.Hour}
	newBrowser(t, ts).signUp("ada")
	newBrowser(t, ts).signUp("bob")
	resp, body := newBrowser(t, ts).post("/signup", signupForm("cem"))
	wantStatus(t, resp, body, http.StatusTooManyRequests)
	wantContains(t, body, "Too many attempts. Try again in 60 minutes.")
	if _, err := srv.Store.UserByUsername(context.Background(), "cem"); pixpool.ErrorCode(err) != pixpool.ENOTFOUND {
		t.Fatalf("cem exists: %v", err)
	}
}

func apiKey(t *testing.T, p *portal, u *pixpool.User) string {
	t.Helper()
	_, secret, err := p.env.Accounts.CreateAPIKey(context.Background(), u.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func apiCall(t *testing.T, p *portal, key, method, path, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, p.ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}
