package http

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/service"
)

// Quotas: what a user's images take and what they may take, on the home
// and profile pages, in /api/v1/me, on the admin users page (where admins
// set a user's own quotas) and in /api/v1/admin/users/{id}/quota.

// storageView is a user's usage against their quota, written for people.
type storageView struct {
	Usage pixpool.Usage
	Quota pixpool.Quota
	// Summary is "Storage: 1.2 MiB of 100 MiB used (3 of 500 images)";
	// Trash, if the trash holds anything, its share.
	Summary, Trash string
	// Percent is the fuller of bytes and images against their quotas,
	// 0 to 100; -1 when neither is limited.
	Percent int
}

func newStorageView(u pixpool.Usage, q pixpool.Quota) storageView {
	v := storageView{Usage: u, Quota: q, Percent: -1}
	var b strings.Builder
	b.WriteString("Storage: " + pixpool.FormatSize(u.Bytes))
	if q.Bytes > 0 {
		b.WriteString(" of " + pixpool.FormatSize(q.Bytes))
		v.Percent = max(v.Percent, percent(u.Bytes, q.Bytes))
	}
	b.WriteString(" used (" + strconv.FormatInt(u.Images, 10))
	if q.Images > 0 {
		b.WriteString(" of " + strconv.FormatInt(q.Images, 10))
		v.Percent = max(v.Percent, percent(u.Images, q.Images))
	}
	if u.Images == 1 && q.Images == 0 {
		b.WriteString(" image)")
	} else {
		b.WriteString(" images)")
	}
	if q.Bytes == 0 && q.Images == 0 {
		b.WriteString(", no limit")
	}
	v.Summary = b.String()
	if u.TrashImages > 0 {
		v.Trash = "The trash holds " + strconv.FormatInt(u.TrashImages, 10) + " of them, " +
			pixpool.FormatSize(u.TrashBytes) + " that emptying it would free."
	}
	return v
}

func percent(n, of int64) int {
	return int(min(100, math.Round(float64(n)*100/float64(of))))
}

// storage returns the storage view of a user.
func (s *Server) storage(ctx context.Context, userID int64) (storageView, error) {
	u, q, err := s.Images.Quota(ctx, userID)
	if err != nil {
		return storageView{}, err
	}
	return newStorageView(u, q), nil
}

// sizeUnits are the units a size may be written in: binary, whether
// written KB or KiB, as quotas are shown.
var sizeUnits = map[string]int64{
	"": 1 << 20, "b": 1, "byte": 1, "bytes": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// parseSize reads a byte quota as an admin types it: "500 MiB", "2 GB",
// "1.5g", or a bare number of MiB; "" is nil (the default). field names
// it in errors.
func parseSize(field, s string) (*int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	mult, ok := sizeUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 || f*float64(mult) > math.MaxInt64/2 {
		return nil, pixpool.Errorf(pixpool.EINVALID, "%s must be a size such as 500 MiB or 2 GiB (a bare number is MiB; 0 is no limit).", field)
	}
	n := int64(math.Round(f * float64(mult)))
	if n == 0 && f > 0 {
		// 0 is no limit: a typed size of less than a byte is a mistake.
		return nil, pixpool.Errorf(pixpool.EINVALID, "%s of %s is less than a byte: give a size such as 500 MiB (0 is no limit).", field, s)
	}
	return &n, nil
}

// formatSizeExact writes n bytes in the largest unit that holds it
// exactly, so that parseSize reads back the same number.
func formatSizeExact(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

// parseCount reads an image quota; "" is nil (the default).
func parseCount(field, s string) (*int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return nil, pixpool.Errorf(pixpool.EINVALID, "%s must be a whole number, 0 for no limit.", field)
	}
	return &n, nil
}

// policies returns the storage policy service.
func (s *Server) policies() *service.Policies {
	if s.Images != nil && s.Images.Policies != nil {
		return s.Images.Policies
	}
	return &service.Policies{Store: s.Store}
}

// handlePortalUserQuota sets a user's own quotas from the users page;
// an empty field sets the default back.
func (s *Server) handlePortalUserQuota(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminUsersPage(r)
	offset, _ := strconv.Atoi(r.PostFormValue("offset"))
	offset = max(offset, 0)
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		err = pixpool.Errorf(pixpool.ENOTFOUND, "No such user.")
	}
	var bytes, images *int64
	if err == nil {
		bytes, err = parseSize("The byte quota", r.PostFormValue("quota_bytes"))
	}
	if err == nil {
		images, err = parseCount("The image quota", r.PostFormValue("quota_images"))
	}
	if err == nil {
		err = s.Images.SetQuota(r.Context(), id, bytes, images)
	}
	if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.renderUsersPage(w, r, ErrorStatus(err), d, offset)
		return
	}
	redirect(w, r, pageURL("/admin/users", url.Values{"offset": {offsetValue(offset)}, "msg": {"quota"}}))
}

// quotaJSON is a user's usage and quotas in the API.
type quotaJSON struct {
	Usage pixpool.Usage `json:"usage"`
	Quota pixpool.Quota `json:"quota"`
}

// handleAPIAdminUserQuota sets a user's own quotas:
// {"bytes": n|null, "images": n|null}, null (or absent) for the default,
// 0 for no limit. It answers the user's usage and quotas.
func (s *Server) handleAPIAdminUserQuota(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.Error(w, r, pixpool.Errorf(pixpool.ENOTFOUND, "No such user."))
		return
	}
	var body struct {
		Bytes  *int64 `json:"bytes"`
		Images *int64 `json:"images"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.Images.SetQuota(r.Context(), id, body.Bytes, body.Images); err != nil {
		s.Error(w, r, err)
		return
	}
	u, q, err := s.Images.Quota(r.Context(), id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, quotaJSON{u, q})
}
