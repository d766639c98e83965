package http

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
)

// SessionCookie names the cookie holding the session token.
const SessionCookie = "pixpool_session"

// DeviceCookie names the cookie that marks a browser as one its account's
// owner logged in from (service.Accounts.LoginDevice): logins it sends are
// paced on their own, apart from strangers' guessing. It goes only to
// /login.
const DeviceCookie = "pixpool_device"

type ctxKey int

const authKey ctxKey = 0

// auth is who made a request and how.
type auth struct {
	user    *pixpool.User
	session *pixpool.Session // nil for API keys
	token   string           // the session cookie's token
	err     error            // why credentials given were refused
	// compat marks a credential-less compatibility call acting as
	// Server.CompatUser.
	compat bool
}

func authFrom(ctx context.Context) *auth {
	a, _ := ctx.Value(authKey).(*auth)
	if a == nil {
		return &auth{}
	}
	return a
}

// authenticate resolves the session cookie or the bearer API key of every
// request once, and keeps the result in its context.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := &auth{}
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, secret, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				a.err = pixpool.Errorf(pixpool.EUNAUTHORIZED, "Use Authorization: Bearer <API key>.")
			} else {
				a.user, a.err = s.Accounts.AuthenticateAPIKey(r.Context(), strings.TrimSpace(secret))
			}
		} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			a.user, a.session, a.err = s.Accounts.Authenticate(r.Context(), c.Value)
			if a.err == nil {
				a.token = c.Value
			} else if pixpool.ErrorCode(a.err) == pixpool.EUNAUTHORIZED {
				s.clearSessionCookie(w, r)
			}
		}
		if a.err != nil && pixpool.ErrorCode(a.err) != pixpool.EUNAUTHORIZED {
			s.fail(w, r, a.err) // the store is down: say so, do not pretend logged out
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey, a)))
	})
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	s.setCookie(w, r, SessionCookie, token, "/", expires)
}

// setDeviceCookie sets the device cookie, sent only to the login page.
func (s *Server) setDeviceCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	s.setCookie(w, r, DeviceCookie, value, "/login", expires)
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	s.setCookie(w, r, SessionCookie, "", "/", time.Time{})
}

// setCookie sets one of pixpool's cookies: HttpOnly, SameSite=Lax, Secure
// under TLS or SecureCookies; a zero expires deletes it.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, expires time.Time) {
	c := &http.Cookie{
		Name: name, Value: value, Path: path, Expires: expires,
		HttpOnly: true, Secure: s.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode,
	}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(time.Until(expires).Seconds())
	}
	http.SetCookie(w, c)
}

// requireUser guards a web page: without a session it redirects to the
// login page (coming back afterwards), and every state-changing request
// must carry the session's CSRF token in its "csrf" form field.
func (s *Server) requireUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := authFrom(r.Context())
		if a.user == nil || a.session == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.errorPage(w, r, pixpool.Errorf(pixpool.EUNAUTHORIZED, "Please log in first."))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.validCSRF(r, a.session) {
			s.errorPage(w, r, pixpool.Errorf(pixpool.EFORBIDDEN, "The form has expired. Go back, reload the page and try again."))
			return
		}
		h(w, r)
	}
}

// validCSRF checks the form's token against the session's. For multipart
// forms the token comes in the X-CSRF-Token header or as a query
// parameter, so checking it does not need the whole body first.
func (s *Server) validCSRF(r *http.Request, sess *pixpool.Session) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.URL.Query().Get("csrf")
	}
	if got == "" && !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) == 1
}

// requireAPIUser guards /api/v1: an API key or a session, else 401.
func (s *Server) requireAPIUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := authFrom(r.Context())
		if a.user == nil {
			err := a.err
			if err == nil {
				err = pixpool.Errorf(pixpool.EUNAUTHORIZED, "Authentication required: send Authorization: Bearer <API key>.")
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="pixpool"`)
			s.Error(w, r, err)
			return
		}
		h(w, r)
	}
}

// requireAdmin guards an admin page: logged-out visitors go to the login
// page, everyone but admins gets 404, as if the page did not exist.
func (s *Server) requireAdmin(h http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if !authFrom(r.Context()).user.Admin {
			s.errorPage(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "Page not found."))
			return
		}
		h(w, r)
	})
}

// requireAPIAdmin guards /api/v1/admin (inside requireAPIUser): 404 to
// everyone but admins.
func (s *Server) requireAPIAdmin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !authFrom(r.Context()).user.Admin {
			s.handleAPINotFound(w, r)
			return
		}
		h(w, r)
	}
}
