package http

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/pixpool/pixpool"
)

// The storage policy (pixpool.Policy): default quotas, the trash's
// retention, kept originals; in the portal at /admin/policy and in
// /api/v1/admin/policy.

// adminPolicyPage is admin_policy.html's data.
type adminPolicyPage struct {
	adminLayout
	Form policyForm
}

// policyForm holds the policy's fields as typed, to re-fill the form.
type policyForm struct {
	QuotaBytes, QuotaImages, TrashDays string
	KeepOriginals                      bool
}

func formFromPolicy(p pixpool.Policy) policyForm {
	f := policyForm{QuotaBytes: "0", QuotaImages: strconv.FormatInt(p.QuotaImages, 10), TrashDays: strconv.Itoa(p.TrashDays), KeepOriginals: p.KeepOriginals}
	if p.QuotaBytes > 0 {
		f.QuotaBytes = formatSizeExact(p.QuotaBytes)
	}
	return f
}

// readPolicyForm reads the posted form into a policy; an empty quota is
// no limit.
func readPolicyForm(r *http.Request) (policyForm, pixpool.Policy, error) {
	f := policyForm{
		QuotaBytes:    strings.TrimSpace(r.PostFormValue("quota_bytes")),
		QuotaImages:   strings.TrimSpace(r.PostFormValue("quota_images")),
		TrashDays:     strings.TrimSpace(r.PostFormValue("trash_days")),
		KeepOriginals: r.PostFormValue("keep_originals") != "",
	}
	p := pixpool.Policy{KeepOriginals: f.KeepOriginals}
	b, err := parseSize("The default byte quota", f.QuotaBytes)
	if err != nil {
		return f, p, err
	}
	n, err := parseCount("The default image quota", f.QuotaImages)
	if err != nil {
		return f, p, err
	}
	if b != nil {
		p.QuotaBytes = *b
	}
	if n != nil {
		p.QuotaImages = *n
	}
	if p.TrashDays, err = strconv.Atoi(f.TrashDays); err != nil {
		return f, p, pixpool.Errorf(pixpool.EINVALID, "Trash retention must be a whole number of days, from 0 to %d.", pixpool.MaxTrashDays)
	}
	return f, p, nil
}

func (s *Server) newAdminPolicyPage(r *http.Request) *adminPolicyPage {
	return &adminPolicyPage{adminLayout: s.adminPage(r, "Storage policy", "policy")}
}

func (s *Server) handlePortalPolicy(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminPolicyPage(r)
	p, err := s.policies().Get(r.Context())
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	d.Form = formFromPolicy(p)
	s.render(w, r, http.StatusOK, "admin_policy.html", d)
}

// handlePortalPolicySave saves the policy; bad input re-shows the form as
// typed, with the error.
func (s *Server) handlePortalPolicySave(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminPolicyPage(r)
	f, p, err := readPolicyForm(r)
	if err == nil {
		err = s.policies().Set(r.Context(), p)
	}
	if err != nil {
		s.logError(r, err)
		d.Form, d.Error = f, pixpool.ErrorMessage(err)
		s.render(w, r, pageErrorStatus(err), "admin_policy.html", d)
		return
	}
	s.logger().Info("storage policy set", "by", d.User.Username, "quota_bytes", p.QuotaBytes, "quota_images", p.QuotaImages,
		"trash_days", p.TrashDays, "keep_originals", p.KeepOriginals)
	redirect(w, r, "/admin/policy?msg=policy")
}

func (s *Server) handleAPIAdminPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := s.policies().Get(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// handleAPIAdminPolicyPut replaces the policy: every field, an absent one
// taking the default policy's value.
func (s *Server) handleAPIAdminPolicyPut(w http.ResponseWriter, r *http.Request) {
	p := pixpool.DefaultPolicy
	if err := decodeJSON(w, r, &p); err != nil {
		s.Error(w, r, err)
		return
	}
	if err := s.policies().Set(r.Context(), p); err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Info("storage policy set", "by", authFrom(r.Context()).user.Username, "quota_bytes", p.QuotaBytes, "quota_images", p.QuotaImages,
		"trash_days", p.TrashDays, "keep_originals", p.KeepOriginals)
	writeJSON(w, http.StatusOK, p)
}
