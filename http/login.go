package http

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// localPath returns next if it is a path on this site, else "/". It
// judges the path a browser would follow: http.Redirect cleans the path
// (so "/./\host" would become "/\host"), and browsers read "//host" and
// "/\host" as other sites and drop tabs and newlines. So it refuses
// backslashes and control characters anywhere, also once more
// percent-decoded, any scheme or host, and "//" anywhere in the path; it
// returns the cleaned path with its query.
func localPath(next string) string {
	const home = "/"
	if !strings.HasPrefix(next, "/") || len(next) > 2048 || unsafeInPath(next) {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	// u.Path is decoded once; decode again to catch "%255C" and the like.
	twice, err := url.PathUnescape(u.Path)
	if err != nil || unsafeInPath(u.Path) || unsafeInPath(twice) {
		return home
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	if !strings.HasPrefix(clean, "/") || strings.Contains(u.Path, "//") || strings.Contains(twice, "//") {
		return home
	}
	out := &url.URL{Path: clean, RawQuery: u.RawQuery}
	return out.String()
}

// unsafeInPath reports whether s holds a backslash or a control
// character, which browsers treat as a slash or drop.
func unsafeInPath(s string) bool {
	return strings.ContainsRune(s, '\\') || strings.IndexFunc(s, unicode.IsControl) >= 0
}

// loginPage is login.html's data.
type loginPage struct {
	layout
	Username string // as typed, after a failed login
	Next     string // where to go after logging in
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if authFrom(r.Context()).session != nil {
		redirect(w, r, next)
		return
	}
	d := &loginPage{layout: s.page(r, "Log in", "login")}
	d.Next = next
	s.render(w, r, http.StatusOK, "login.html", d)
}

// handleLogin starts a session and goes on to the page asked for, if it
// is one of ours.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := readForm(w, r); err != nil {
		s.errorPage(w, r, err)
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	next := localPath(r.PostFormValue("next"))
	req := service.LoginRequest{Username: username, Password: r.PostFormValue("password"), ClientIP: s.clientIP(r)}
	if c, err := r.Cookie(DeviceCookie); err == nil {
		req.Device = c.Value
	}
	res, err := s.Accounts.LoginDevice(r.Context(), req)
	if err != nil {
		s.logError(r, err)
		d := &loginPage{layout: s.page(r, "Log in", "login")}
		d.Username, d.Next, d.Error = username, next, pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "login.html", d)
		return
	}
	s.setSessionCookie(w, r, res.Token, res.Session.ExpiresAt)
	if res.Device != "" {
		s.setDeviceCookie(w, r, res.Device, res.DeviceExpires)
	}
	redirect(w, r, next)
}

// handleLogout ends the session. It is not behind requireUser, so that
// an expired session can still "log out", but a live one needs its token.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	a := authFrom(r.Context())
	if a.session != nil {
		if !s.validCSRF(r, a.session) {
			s.errorPage(w, r, pixpool.Errorf(pixpool.EFORBIDDEN, "The form has expired. Go back, reload the page and try again."))
			return
		}
		if err := s.Accounts.Logout(r.Context(), a.token); err != nil {
			s.errorPage(w, r, err)
			return
		}
	}
	s.clearSessionCookie(w, r)
	redirect(w, r, "/")
}
