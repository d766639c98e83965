package http

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/pixpool/pixpool"
)

// deleteConfirmation must be typed to delete every image.
const deleteConfirmation = "DELETE"

// Deleting everything.

// adminDeletePage is admin_delete.html's data: the delete-all
// confirmation.
type adminDeletePage struct {
	adminLayout
	Images  int
	Trashed int    // entries in the users' trashes, deleted too
	Confirm string // what to type
}

// newAdminDeletePage starts the delete-all confirmation.
func (s *Server) newAdminDeletePage(r *http.Request) *adminDeletePage {
	return &adminDeletePage{adminLayout: s.adminPage(r, "Delete all images", "delete-all")}
}

// renderDeletePage renders the delete-all confirmation with the number of
// images it would delete.
func (s *Server) renderDeletePage(w http.ResponseWriter, r *http.Request, status int, p *adminDeletePage) {
	n, err := s.Store.CountImages(r.Context(), pixpool.ImageFilter{})
	if err == nil {
		p.Trashed, err = s.Store.CountTrash(r.Context(), 0)
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	p.Images, p.Confirm = n, deleteConfirmation
	s.render(w, r, status, "admin_delete.html", p)
}

func (s *Server) handlePortalDeleteForm(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminDeletePage(r)
	q := r.URL.Query()
	if q.Get("msg") == "deleted-all" {
		// The counts are numbers only, so a link can make the notice say
		// nothing else.
		images, err1 := strconv.Atoi(q.Get("images"))
		trashed, err2 := strconv.Atoi(q.Get("trashed"))
		if err1 == nil && err2 == nil {
			d.PortalNotice = fmt.Sprintf("Deleted for good: %d %s and %d %s from the trash, with their files; the cache was cleared. Accounts were kept.",
				images, plural(images, "image", "images"), trashed, plural(trashed, "image", "images"))
		}
	}
	s.renderDeletePage(w, r, http.StatusOK, d)
}

// plural is one or many as n asks.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// handlePortalDeleteAll deletes every image's bytes and metadata for good,
// the users' trash included, and clears the cache, once DELETE has been
// typed; accounts stay.
func (s *Server) handlePortalDeleteAll(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminDeletePage(r)
	if strings.TrimSpace(r.PostFormValue("confirm")) != deleteConfirmation {
		d.Error = "Type " + deleteConfirmation + " in capitals to confirm. Nothing was deleted."
		s.renderDeletePage(w, r, http.StatusBadRequest, d)
		return
	}
	n, trashed, err := s.Images.DeleteAll(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.logger().Info("admin deleted all images", "admin", authFrom(r.Context()).user.Username, "images", n, "trashed", trashed)
	redirect(w, r, fmt.Sprintf("/admin/delete-all?msg=deleted-all&images=%d&trashed=%d", n, trashed))
}
