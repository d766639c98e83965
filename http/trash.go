package http

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
)

// The trash: deleted images wait there, restorable by their owner, until
// the storage policy's days are up (service.Images.Trash).

// trashPageSize is how many trash entries the Trash page shows.
const trashPageSize = 200

// trashPage is trash.html's data.
type trashPage struct {
	layout
	Items []trashItem
	Total int
	Days  int // how long the trash keeps an image
	// Conflict is the entry a restore was refused for (its key is
	// taken), whose "restore under another key" form is opened.
	Conflict int64
}

// trashItem is one entry as the Trash page shows it.
type trashItem struct {
	*pixpool.TrashedImage
	DaysLeft int
}

// daysLeft is how many days (rounded up) remain until t is purged.
func daysLeft(t *pixpool.TrashedImage, now time.Time) int {
	left := t.PurgeAt.Sub(now)
	if left <= 0 {
		return 0
	}
	return int((left + 24*time.Hour - 1) / (24 * time.Hour))
}

// trashNotices are the Trash page's ?msg= texts.
var trashNotices = map[string]string{
	"purged":  "The image was deleted for good.",
	"emptied": "The trash was emptied: its images were deleted for good.",
}

// trashNotice is the notice of a page reached after a delete or a restore
// (?msg=trashed&until=2006-01-02, ?msg=restored), "" for any other msg.
// Only a date can be put in it, so a link can make it say nothing else.
func trashNotice(q url.Values) string {
	switch q.Get("msg") {
	case "trashed":
		if d, err := time.Parse(time.DateOnly, q.Get("until")); err == nil {
			return "Image moved to the trash. You can restore it from the Trash until " + d.Format("2 Jan 2006") + "."
		}
		return "Image moved to the trash."
	case "deleted-now":
		return "Image deleted for good (this server keeps no trash, or its storage is full)."
	case "restored":
		return "Image restored from the trash."
	}
	return ""
}

// trashedURL is where a delete from the web UI goes: the gallery, saying
// where the image went.
func trashedURL(t *pixpool.TrashedImage) string {
	if t == nil {
		return "/images?msg=deleted-now"
	}
	return "/images?" + url.Values{"msg": {"trashed"}, "until": {t.PurgeAt.Format(time.DateOnly)}}.Encode()
}

func (s *Server) handleTrashPage(w http.ResponseWriter, r *http.Request) {
	s.renderTrashPage(w, r, http.StatusOK, "", 0)
}

// renderTrashPage renders the caller's trash, with errMsg as the error
// and the restore form of entry conflict open.
func (s *Server) renderTrashPage(w http.ResponseWriter, r *http.Request, status int, errMsg string, conflict int64) {
	u := authFrom(r.Context()).user
	d := &trashPage{layout: s.page(r, "Trash", "trash"), Conflict: conflict}
	if n := trashNotices[r.URL.Query().Get("msg")]; n != "" {
		d.Notice = n
	}
	d.Error = errMsg
	items, total, err := s.Images.TrashList(r.Context(), u.ID, trashPageSize, 0)
	if err == nil {
		d.Days, err = s.Images.TrashDays(r.Context())
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	now := time.Now()
	for _, t := range items {
		d.Items = append(d.Items, trashItem{t, daysLeft(t, now)})
	}
	d.Total = total
	s.render(w, r, status, "trash.html", d)
}

// trashID reads a trash entry's id from a form or path value; a bad one
// names no entry.
func trashID(v string) (int64, error) {
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, pixpool.Errorf(pixpool.ENOTFOUND, "No such item in your trash.")
	}
	return id, nil
}

// handleTrashThumb sends a trash entry's thumbnail.
func (s *Server) handleTrashThumb(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := trashID(r.URL.Query().Get("id"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	t, data, err := s.Images.TrashThumbnail(r.Context(), u.ID, id)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	thumb := t.Image
	thumb.Checksum += "-thumb" // its own ETag
	serveImage(w, r, &thumb, data, "image/jpeg")
}

// handleTrashRestore restores an entry, under another key if the form
// gives one; a taken key shows the Trash page again with the error and
// that entry's "restore under another key" form open.
func (s *Server) handleTrashRestore(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := trashID(r.PostFormValue("id"))
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	img, err := s.Images.Restore(r.Context(), u.ID, id, r.PostFormValue("key"))
	switch code := pixpool.ErrorCode(err); {
	case code == pixpool.ECONFLICT:
		s.renderTrashPage(w, r, http.StatusConflict, pixpool.ErrorMessage(err), id)
		return
	case code == pixpool.EINVALID: // the new key
		s.renderTrashPage(w, r, http.StatusBadRequest, pixpool.ErrorMessage(err), id)
		return
	case err != nil:
		s.errorPage(w, r, err)
		return
	}
	redirect(w, r, imageURL(img.Key)+"&msg=restored")
}

// handleTrashDelete deletes one entry for good.
func (s *Server) handleTrashDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := trashID(r.PostFormValue("id"))
	if err == nil {
		_, err = s.Images.Purge(r.Context(), u.ID, id)
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	redirect(w, r, "/trash?msg=purged")
}

// handleTrashEmpty deletes every entry for good once the box saying so is
// ticked.
func (s *Server) handleTrashEmpty(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	if r.PostFormValue("confirm") != "yes" {
		s.renderTrashPage(w, r, http.StatusBadRequest, "Tick the box to confirm that the trash should be emptied. Nothing was deleted.", 0)
		return
	}
	if _, err := s.Images.EmptyTrash(r.Context(), u.ID); err != nil {
		s.errorPage(w, r, err)
		return
	}
	redirect(w, r, "/trash?msg=emptied")
}

// The JSON API.

// trashJSON is a trash entry in API answers: the image as it was, its
// trash id, when it was deleted and when it will be purged.
type trashJSON struct {
	ID int64 `json:"id"`
	imageJSON
	DeletedAt time.Time `json:"deleted_at"`
	PurgeAt   time.Time `json:"purge_at"`
}

func toTrashJSON(t *pixpool.TrashedImage) trashJSON {
	return trashJSON{t.ID, toImageJSON(&t.Image), t.DeletedAt, t.PurgeAt}
}

// deleteJSON is the answer to a user's delete: where the image went.
type deleteJSON struct {
	Key     string `json:"key"`
	Trashed bool   `json:"trashed"` // false: deleted for good (no trash kept)
	// TrashID and PurgeAt, if trashed: the entry to restore, and until
	// when it can be.
	TrashID int64      `json:"trash_id,omitempty"`
	PurgeAt *time.Time `json:"purge_at,omitempty"`
}

func (s *Server) handleAPITrashList(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	q := r.URL.Query()
	limit, offset := 100, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "limit must be a number from 1 to 1000."))
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "offset must be a number, 0 or more."))
			return
		}
		offset = n
	}
	items, total, err := s.Images.TrashList(r.Context(), u.ID, limit, offset)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	resp := struct {
		Total int         `json:"total"`
		Items []trashJSON `json:"items"`
	}{Total: total, Items: []trashJSON{}}
	for _, t := range items {
		resp.Items = append(resp.Items, toTrashJSON(t))
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleAPITrashRestore restores an entry, under the key that ?key= or
// the JSON body {"key": ...} gives, if any.
func (s *Server) handleAPITrashRestore(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := trashID(r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	var body struct {
		Key string `json:"key"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	key := body.Key
	if k := r.URL.Query().Get("key"); k != "" {
		if key != "" && key != k {
			s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "Give the new key once: in ?key= or in the body, not two different ones."))
			return
		}
		key = k
	}
	img, err := s.Images.Restore(r.Context(), u.ID, id, key)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toImageJSON(img))
}

func (s *Server) handleAPITrashDelete(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	id, err := trashID(r.PathValue("id"))
	if err == nil {
		_, err = s.Images.Purge(r.Context(), u.ID, id)
	}
	if err != nil {
		s.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleAPITrashEmpty(w http.ResponseWriter, r *http.Request) {
	u := authFrom(r.Context()).user
	n, err := s.Images.EmptyTrash(r.Context(), u.ID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"purged": n})
}
