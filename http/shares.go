package http

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// The owner's side of share links: the "Share" forms of the image page
// and the gallery post to /shares, and /shares lists the links with their
// state and a Revoke button each.

// shareView is one share as the owner sees it, with its link.
type shareView struct {
	*pixpool.Share
	URL    string
	Status string // pixpool.ShareLive, ...
	New    bool   // just made: shown first, highlighted
}

// StatusText says Status in words.
func (v shareView) StatusText() string {
	return shareStatusText[v.Status]
}

var shareStatusText = map[string]string{
	pixpool.ShareLive:    "Live",
	pixpool.ShareRevoked: "Revoked",
	pixpool.ShareExpired: "Expired",
	pixpool.ShareUsedUp:  "View limit reached",
}

// baseURL is the scheme and host the request came to, which the links
// handed out start with.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || s.SecureCookies {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// shareViews pairs shares with their links.
func (s *Server) shareViews(r *http.Request, shares []*pixpool.Share) ([]shareView, error) {
	tokens, err := s.Shares.Tokens(r.Context(), shares)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	base := s.baseURL(r)
	out := make([]shareView, len(shares))
	for i, sh := range shares {
		out[i] = shareView{Share: sh, URL: base + "/s/" + tokens[i], Status: sh.Status(now)}
	}
	return out, nil
}

// sharesPage is shares.html's data.
type sharesPage struct {
	layout
	Shares []shareView
}

// handleSharesPage lists the user's share links, the one just made
// (?created=<id>) first.
func (s *Server) handleSharesPage(w http.ResponseWriter, r *http.Request) {
	s.renderSharesPage(w, r, http.StatusOK, "")
}

func (s *Server) renderSharesPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	u := authFrom(r.Context()).user
	d := &sharesPage{layout: s.page(r, "Shared links", "shares")}
	d.Error = msg
	shares, err := s.Shares.List(r.Context(), u.ID)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	if d.Shares, err = s.shareViews(r, shares); err != nil {
		s.errorPage(w, r, err)
		return
	}
	q := r.URL.Query()
	if id, err := strconv.ParseInt(q.Get("created"), 10, 64); err == nil {
		for i := range d.Shares {
			if d.Shares[i].ID == id {
				d.Shares[i].New = true
				d.Notice = "Link created. Copy it and send it to whoever should see it."
			}
		}
	}
	if q.Get("revoked") != "" {
		d.Notice = "Link revoked: it no longer opens."
	}
	s.render(w, r, status, "shares.html", d)
}

// shareForm reads a share from the web form or the API: what (kind, key),
// how long (expires: seconds from now, "" or 0 for never) and how often
// (max_views: "" for no limit).
func shareForm(kind, key, title, expires, maxViews string, now time.Time) (*pixpool.Share, error) {
	sh := &pixpool.Share{Kind: kind, Key: key, Title: title}
	if expires = strings.TrimSpace(expires); expires != "" && expires != "never" {
		sec, err := strconv.ParseInt(expires, 10, 64)
		if err != nil || sec < 0 || sec > int64(service.MaxShareLifetime/time.Second) {
			return nil, pixpool.Errorf(pixpool.EINVALID, "The link's expiry must be a number of seconds from now, at most ten years, or never.")
		}
		if sec > 0 {
			sh.ExpiresAt = now.Add(time.Duration(sec) * time.Second)
		}
	}
	if maxViews = strings.TrimSpace(maxViews); maxViews != "" {
		n, err := strconv.ParseInt(maxViews, 10, 64)
		if err != nil || n < 1 || n > pixpool.MaxShareViews {
			return nil, pixpool.Errorf(pixpool.EINVALID, "The view limit must be a whole number from 1 to %d, or empty for no limit.", pixpool.MaxShareViews)
		}
		sh.MaxViews = n
	}
	return sh, nil
}

// handleShareCreate makes a share link from the image page's or the
// gallery's form and shows it on the Shared links page.
func (s *Server) handleShareCreate(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	sh, err := shareForm(r.PostFormValue("kind"), r.PostFormValue("key"), r.PostFormValue("title"),
		r.PostFormValue("expires"), r.PostFormValue("max_views"), time.Now())
	if err == nil {
		sh, err = s.Shares.Create(r.Context(), u.ID, sh)
	}
	if pixpool.ErrorCode(err) == pixpool.EINVALID {
		s.renderSharesPage(w, r, http.StatusBadRequest, pixpool.ErrorMessage(err))
		return
	} else if err != nil {
		s.errorPage(w, r, err)
		return
	}
	redirect(w, r, "/shares?created="+strconv.FormatInt(sh.ID, 10)+"#share-"+strconv.FormatInt(sh.ID, 10))
}

// handleShareRevoke revokes one of the user's links.
func (s *Server) handleShareRevoke(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		s.errorPage(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "No such share link."))
		return
	}
	if _, err := s.Shares.Revoke(r.Context(), u.ID, id); err != nil {
		s.errorPage(w, r, err)
		return
	}
	redirect(w, r, "/shares?revoked=1")
}
