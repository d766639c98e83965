package http

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// profileBrowser starts a server and signs ada up in a browser, which
// it returns with ada's CSRF token.
func profileBrowser(t *testing.T) (ts *httptest.Server, b *browser, csrf string) {
	t.Helper()
	_, ts = newTestServer(t)
	b = newBrowser(t, ts)
	b.signUp("ada")
	return ts, b, b.csrf()
}

// TestWeb_Profile: each subtest has a server of its own, with ada signed
// up.
func TestWeb_Profile(t *testing.T) {
	t.Run("Edit", func(t *testing.T) {
		_, b, csrf := profileBrowser(t)
		f := signupForm("ada_l")
		f.Set("first_name", "Augusta Ada")
		f.Set("email", "bad")
		f.Set("csrf", csrf)
		resp, body := b.post("/profile", f)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Email must be an address", `value="Augusta Ada"`, `value="bad"`)

		f.Set("email", "ada@example.net")
		resp, body = b.post("/profile", f)
		wantStatus(t, resp, body, http.StatusSeeOther)
		_, body = b.get(resp.Header.Get("Location"))
		wantContains(t, body, "Profile saved.", `value="ada_l"`, `value="Augusta Ada"`, `value="ada@example.net"`, `value="1990-05-17"`)
	})
	t.Run("Password", func(t *testing.T) {
		ts, b, csrf := profileBrowser(t)
		other := newBrowser(t, ts)
		if resp := other.login("ada", "correct horse battery", ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("second login: status %d", resp.StatusCode)
		}
		form := url.Values{"csrf": {csrf}, "current_password": {"wrong password"},
			"new_password": {"a brand new secret"}, "new_password_confirm": {"a brand new secret"}}
		resp, body := b.post("/profile/password", form)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantContains(t, body, "Current password is wrong.")

		form.Set("current_password", "correct horse battery")
		resp, body = b.post("/profile/password", form)
		wantStatus(t, resp, body, http.StatusSeeOther)
		_, body = b.get(resp.Header.Get("Location"))
		wantContains(t, body, "Password changed; your other sessions were logged out.")

		if resp, _ := other.get("/profile"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("the other session still works: status %d", resp.StatusCode)
		}
		c := newBrowser(t, ts)
		if resp := c.login("ada", "a brand new secret", ""); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("login with the new password: status %d", resp.StatusCode)
		}
	})
	t.Run("APIKey", func(t *testing.T) {
		ts, b, csrf := profileBrowser(t)
		resp, body := b.post("/profile/apikeys", url.Values{"csrf": {csrf}, "name": {"laptop <script>"}})
		wantStatus(t, resp, body, http.StatusOK)
		secret := secretShown(t, body)
		if !strings.HasPrefix(secret, "pp_") {
			t.Fatalf("no secret shown:\n%s", body)
		}
		wantContains(t, body, "will not be shown again", "laptop &lt;script&gt;")
		_, body = b.get("/profile")
		if strings.Contains(body, secret) {
			t.Fatal("the secret is shown again")
		}
		wantContains(t, body, secret[:9])

		api := func() int {
			req, _ := http.NewRequest("GET", ts.URL+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, body := newBrowser(t, ts).do(req)
			if resp.StatusCode == http.StatusOK && !strings.Contains(body, `"username":"ada"`) {
				t.Fatalf("/api/v1/me: %s", body)
			}
			return resp.StatusCode
		}
		if got := api(); got != http.StatusOK {
			t.Fatalf("/api/v1/me with the new key: status %d", got)
		}
		_, body = b.get("/profile")
		id := valueOf(t, body, "id")
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			t.Fatalf("no revoke form:\n%s", body)
		}
		resp, body = b.post("/profile/apikeys/delete", url.Values{"csrf": {csrf}, "id": {id}})
		wantStatus(t, resp, body, http.StatusSeeOther)
		if got := api(); got != http.StatusUnauthorized {
			t.Fatalf("/api/v1/me with a revoked key: status %d", got)
		}
	})
}
