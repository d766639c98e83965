package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

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
	code := secretShown(t, body)
	if !strings.HasPrefix(code, "inv_") {
		t.Fatalf("no invite code on the page:\n%s", body)
	}
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

func TestWeb_SignupValidation(t *testing.T) {
	_, ts := newTestServer(t)
	b := newBrowser(t, ts)

	t.Run("BadEmail", func(t *testing.T) {
		f := signupForm("ada")
		f.Set("email", "not-an-address")
		resp, body := b.post("/signup", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Email must be an address like name@example.org.",
			`value="ada"`, `value="Ada"`, `value="Lovelace"`, `value="not-an-address"`, `value="1990-05-17"`)
		if strings.Contains(body, "correct horse battery") {
			t.Fatal("the page echoes the password")
		}
	})
	t.Run("PasswordsDiffer", func(t *testing.T) {
		f := signupForm("ada")
		f.Set("password_confirm", "something else")
		resp, body := b.post("/signup", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "passwords do not match")
	})
	t.Run("BadBirthday", func(t *testing.T) {
		f := signupForm("ada")
		f.Set("birthday", "17/05/1990")
		resp, body := b.post("/signup", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Birthday must be a date written as YYYY-MM-DD.")
	})
	t.Run("Taken", func(t *testing.T) {
		b.signUp("grace")
		other := newBrowser(t, ts)
		resp, body := other.post("/signup", signupForm("GRACE"))
		wantStatus(t, resp, body, http.StatusConflict)
		wantContains(t, body, `value="GRACE"`)
	})
}
