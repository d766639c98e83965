package http

import (
	"net/http"
	"strings"

	"github.com/pixpool/pixpool"
)

// deleteConfirmation must be typed to delete every image.
const deleteConfirmation = "DELETE"

// Deleting everything.

// deletePage is the delete-all confirmation's Page.
type deletePage struct {
	adminBase
	Images  int
	Confirm string // what to type
}

// renderDeletePage renders the delete-all confirmation with the number of
// images it would delete.
func (s *Server) renderDeletePage(w http.ResponseWriter, r *http.Request, status int, d *data) {
	n, err := s.Store.CountImages(r.Context(), pixpool.ImageFilter{})
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d.Page = &deletePage{adminBase: s.portalBase(d, "delete-all"), Images: n, Confirm: deleteConfirmation}
	s.render(w, r, status, "admin_delete.html", d)
}

func (s *Server) handlePortalDeleteForm(w http.ResponseWriter, r *http.Request) {
	s.renderDeletePage(w, r, http.StatusOK, s.adminData(r, "Delete all images"))
}

// handlePortalDeleteAll deletes every image's bytes and metadata and clears
// the cache, once DELETE has been typed; accounts stay.
func (s *Server) handlePortalDeleteAll(w http.ResponseWriter, r *http.Request) {
	d := s.adminData(r, "Delete all images")
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
