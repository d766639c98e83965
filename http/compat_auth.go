package http

import (
	"context"
	"net/http"

	"github.com/pixpool/pixpool"
)

// The compatibility API (shared/COMPAT_API.md) takes GET or POST, with an
// API key, a session, or, when CompatUser is set, no credentials at all.
// Who may do what:
//
//   - an API key or a session acts as its account, with all its rights;
//   - a credential-less call acts as the CompatUser account without its
//     admin powers, unless CompatAdmin is set too: then with them, so it
//     may use the pool endpoints and delete every user's images; it must
//     be for localhost, an IP address or one of Server.Hosts, so that a
//     page whose name an attacker rebinds to this server cannot make it
//     (host.go);
//   - the routes that change state (upload, delete_all, configure_cache)
//     refuse GET from a session cookie, need the session's CSRF token as
//     the web forms do, and refuse whatever a browser marks as cross-site
//     (compatChanges).

// compat guards a compatibility route that any account may use.
func (s *Server) compat(h http.HandlerFunc) http.HandlerFunc {
	return s.compatAuth(h, false)
}

// compatPool guards the pool endpoints: an admin's API key or session, or
// a credential-less call under CompatAdmin whose CompatUser is an admin.
// Others get 403, or 401 without credentials and CompatUser.
func (s *Server) compatPool(h http.HandlerFunc) http.HandlerFunc {
	return s.compatAuth(h, true)
}

// compatUser is the account a credential-less call acts as: CompatUser,
// without its admin powers unless CompatAdmin is set.
func (s *Server) compatUser(ctx context.Context) (*pixpool.User, error) {
	u, err := s.Accounts.UserByUsername(ctx, s.CompatUser)
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.EUNAUTHORIZED, "The compatibility account %q does not exist.", s.CompatUser)
	} else if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, pixpool.Errorf(pixpool.EUNAUTHORIZED, "The compatibility account is disabled.")
	}
	if u.Admin && !s.CompatAdmin {
		plain := *u
		plain.Admin = false
		u = &plain
	}
	return u, nil
}

// compatAuth lets a compatibility call through with its credentials, or,
// without any and with CompatUser set, as compatUser; pool routes also
// need that caller to be an admin (else 403).
func (s *Server) compatAuth(h http.HandlerFunc, pool bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := authFrom(r.Context())
		if a.user == nil && a.err == nil && s.CompatUser != "" {
			if !s.knownHost(r) {
				s.compatError(w, r, errCompatHost(r))
				return
			}
			u, err := s.compatUser(r.Context())
			if err != nil {
				s.compatError(w, r, err)
				return
			}
			a = &auth{user: u, compat: true}
			r = r.WithContext(context.WithValue(r.Context(), authKey, a))
		}
		if a.user == nil {
			err := a.err
			if err == nil {
				err = pixpool.Errorf(pixpool.EUNAUTHORIZED, "Authentication required: send Authorization: Bearer <API key>.")
			}
			s.compatError(w, r, err)
			return
		}
		if pool && !a.user.Admin {
			var err error
			switch {
			case a.compat && !s.CompatAdmin:
				err = pixpool.Errorf(pixpool.EFORBIDDEN, "The pool endpoints are closed to calls without credentials (serve runs without --compat-admin): send an admin's API key.")
			case a.compat:
				err = pixpool.Errorf(pixpool.EFORBIDDEN, "The compatibility account %q is not an admin, so calls without credentials cannot use the pool endpoints.", s.CompatUser)
			default:
				err = pixpool.Errorf(pixpool.EFORBIDDEN, "Only admins can read or change the cache pool.")
			}
			s.compatError(w, r, err)
			return
		}
		h(w, r)
	}
}

// Answers of compatChanges.
var (
	errCompatCookieGET = pixpool.Errorf(pixpool.EFORBIDDEN,
		"A session cookie cannot change anything with GET: send a POST with the session's CSRF token (the X-CSRF-Token header, or the csrf field of a form-encoded body), or use an API key.")
	errCompatMethod = pixpool.Errorf(pixpool.EINVALID, "Use GET or POST.")
	errCompatCSRF   = pixpool.Errorf(pixpool.EFORBIDDEN,
		"Missing or wrong CSRF token: a POST with a session cookie needs the session's token in the X-CSRF-Token header (or the csrf field of a form-encoded body); or use an API key.")
)

// compatChanges guards a compatibility route that changes state: GET or
// POST only (a HEAD or OPTIONS must not change anything). A browser sends
// the session cookie with a cross-site top-level GET (SameSite=Lax) and
// the cross-origin protection lets every GET through, so a call carrying
// a session must be a POST with the session's CSRF token, as the web
// forms are: in the X-CSRF-Token header, the csrf query parameter or, for
// a form-encoded body, its csrf field.
// Whatever the method and credentials, a call that a browser marks as
// cross-site (Sec-Fetch-Site, or an Origin not this host) is refused, so
// another site cannot make a visitor's browser call a credential-less
// route either. API keys, which a browser never sends by itself, and
// credential-less callers such as the course's tester may use GET.
func (s *Server) compatChanges(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Check the request as the POST it amounts to: the protection
		// passes every GET.
		unsafe := r.WithContext(r.Context())
		unsafe.Method = http.MethodPost
		if err := s.cop.Check(unsafe); err != nil {
			s.compatError(w, r, errCrossSite)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			s.compatError(w, r, errCompatMethod)
			return
		}
		if a := authFrom(r.Context()); a.session != nil {
			if r.Method == http.MethodGet {
				s.compatError(w, r, errCompatCookieGET)
				return
			}
			if !s.validCSRF(r, a.session) {
				s.compatError(w, r, errCompatCSRF)
				return
			}
		}
		h(w, r)
	}
}
