package http

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/manager"
)

// Cache settings.

// adminCachePage is admin_cache.html's data; the fields hold the form as
// typed.
type adminCachePage struct {
	adminLayout
	CapacityMB string
	Policy     string
	Nodes      int
}

// renderCachePage renders the cache settings; p holds the form as typed,
// or nothing for the pool's settings.
func (s *Server) renderCachePage(w http.ResponseWriter, r *http.Request, status int, p *adminCachePage) {
	if s.Manager != nil {
		st := s.Manager.State()
		p.Nodes = len(st.Nodes)
		if p.CapacityMB == "" && p.Policy == "" {
			p.CapacityMB, p.Policy = strconv.Itoa(st.CapacityMB), st.Policy
		}
	}
	s.render(w, r, status, "admin_cache.html", p)
}

func (s *Server) handlePortalCache(w http.ResponseWriter, r *http.Request) {
	s.renderCachePage(w, r, http.StatusOK, &adminCachePage{adminLayout: s.adminPage(r, "Cache settings", "cache")})
}

// handlePortalCacheSave applies a capacity and a policy to every node. Both
// are checked before either is applied.
func (s *Server) handlePortalCacheSave(w http.ResponseWriter, r *http.Request) {
	p := &adminCachePage{adminLayout: s.adminPage(r, "Cache settings", "cache"),
		CapacityMB: strings.TrimSpace(r.PostFormValue("capacity_mb")), Policy: r.PostFormValue("policy")}
	var err error = manager.ErrNoPool
	if s.Manager != nil {
		err = s.saveCacheSettings(r.Context(), p.CapacityMB, p.Policy)
	}
	if err != nil {
		s.logError(r, err)
		p.Error = pixpool.ErrorMessage(err)
		s.renderCachePage(w, r, pageErrorStatus(err), p)
		return
	}
	redirect(w, r, "/admin/cache?msg=cache")
}

func (s *Server) saveCacheSettings(ctx context.Context, capacity, policy string) error {
	mb, err := strconv.Atoi(capacity)
	if err != nil || manager.CheckCapacity(mb) != nil {
		return pixpool.Errorf(pixpool.EINVALID, "The capacity must be a whole number of MB from 1 to %d, such as 64.", manager.MaxCapacityMB)
	}
	p, err := manager.ParsePolicy(policy)
	if err != nil {
		return err
	}
	if err := s.Manager.SetCapacity(ctx, mb); err != nil {
		return err
	}
	return s.Manager.SetPolicy(ctx, p)
}

// handlePortalClear empties every cache node.
func (s *Server) handlePortalClear(w http.ResponseWriter, r *http.Request) {
	if s.Manager == nil {
		s.errorPage(w, r, manager.ErrNoPool)
		return
	}
	if err := s.Manager.Clear(r.Context()); err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.logger().Info("cache cleared", "admin", authFrom(r.Context()).user.Username)
	to := "/admin/cache"
	if r.PostFormValue("from") == "cache-keys" {
		to = "/admin/cache-keys"
	}
	redirect(w, r, to+"?msg=cleared")
}
