package http

import (
	"net/http"
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
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	p.Images, p.Confirm = n, deleteConfirmation
	s.render(w, r, status, "admin_delete.html", p)
}

func (s *Server) handlePortalDeleteForm(w http.ResponseWriter, r *http.Request) {
	s.renderDeletePage(w, r, http.StatusOK, s.newAdminDeletePage(r))
}

// handlePortalDeleteAll deletes every image's bytes and metadata and clears
// the cache, once DELETE has been typed; accounts stay.
func (s *Server) handlePortalDeleteAll(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminDeletePage(r)
	if strings.TrimSpace(r.PostFormValue("confirm")) != deleteConfirmation {
		d.Error = "Type " + deleteConfirmation + " in capitals to confirm. Nothing was deleted."
		s.renderDeletePage(w, r, http.StatusBadRequest, d)
		return
	}
	n, err := s.Images.DeleteAll(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.logger().Info("admin deleted all images", "admin", authFrom(r.Context()).user.Username, "images", n)
	redirect(w, r, "/admin/delete-all?msg=deleted-all")
}
