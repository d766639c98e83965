package http

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pixpool/pixpool"
)

// Cache keys.

// keyRow is one item of a node, with the image it holds where its cache
// key can be read back.
type keyRow struct {
	Pos        int // in LRU order, 1 = least recently used
	CacheKey   string
	Owner, Key string // "" when the cache key is not an image's
	Hashed     bool   // a long key, cached under its hash
	Size       int64
	LastAccess time.Time
	Seen       string // LastAccess to the second, which LRU order turns on
}

// adminKeysPage is admin_keys.html's data.
type adminKeysPage struct {
	adminLayout
	Nodes []string
	Node  string
	Rows  []keyRow
	Total int
	Page  int // 1-based
	Pages int
	Pager pager
}

// decodeCacheKey reads service.CacheKey back: "i:<owner>:<base64url key>",
// or "i:<owner>:#<sha256>" for a long key.
func decodeCacheKey(ck string) (owner int64, key string, hashed, ok bool) {
	rest, ok := strings.CutPrefix(ck, "i:")
	if !ok {
		return 0, "", false, false
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return 0, "", false, false
	}
	owner, err := strconv.ParseInt(id, 10, 64)
	if err != nil || owner <= 0 {
		return 0, "", false, false
	}
	if strings.HasPrefix(enc, "#") {
		return owner, "", true, true
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(b) == 0 || !utf8.Valid(b) {
		return 0, "", false, false
	}
	return owner, string(b), false, true
}

// handlePortalCacheKeys lists a node's keys, least recently used first.
func (s *Server) handlePortalCacheKeys(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := &adminKeysPage{adminLayout: s.adminPage(r, "Cache keys", "cache-keys")}
	if s.Manager == nil {
		s.render(w, r, http.StatusOK, "admin_keys.html", p)
		return
	}
	for _, n := range s.Manager.State().Nodes {
		p.Nodes = append(p.Nodes, n.ID)
	}
	q := r.URL.Query()
	p.Node = q.Get("node")
	if p.Node == "" && len(p.Nodes) > 0 {
		p.Node = p.Nodes[0]
	}
	if p.Node == "" {
		s.render(w, r, http.StatusOK, "admin_keys.html", p)
		return
	}
	keys, err := s.Manager.Keys(ctx, p.Node)
	if err != nil {
		s.logError(r, err)
		p.Error = pixpool.ErrorMessage(err)
		s.render(w, r, ErrorStatus(err), "admin_keys.html", p)
		return
	}
	p.Total = len(keys)
	p.Pages = max(1, (p.Total+cacheKeysPerPage-1)/cacheKeysPerPage)
	p.Page, _ = strconv.Atoi(q.Get("page"))
	p.Page = min(max(p.Page, 1), p.Pages)
	from := (p.Page - 1) * cacheKeysPerPage
	shown := keys[from:min(from+cacheKeysPerPage, len(keys))]
	names := &ownerNames{s: s}
	for i, k := range shown {
		row := keyRow{Pos: from + i + 1, CacheKey: k.Key, Size: k.Size, LastAccess: k.LastAccess,
			Seen: k.LastAccess.UTC().Format("2 Jan 2006, 15:04:05 UTC")}
		if owner, key, hashed, ok := decodeCacheKey(k.Key); ok {
			row.Owner, row.Key, row.Hashed = names.name(ctx, owner), key, hashed
		}
		p.Rows = append(p.Rows, row)
	}
	p.Pager = listPager(from, len(shown), p.Total, cacheKeysPerPage, func(off int) string {
		page := ""
		if off > 0 {
			page = strconv.Itoa(off/cacheKeysPerPage + 1)
		}
		return pageURL("/admin/cache-keys", url.Values{"node": {p.Node}, "page": {page}})
	})
	s.render(w, r, http.StatusOK, "admin_keys.html", p)
}
