package http

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
)

// adminBackupRestorePage is admin_backup_restore.html's data: it
// confirms the restore of a listed backup.
type adminBackupRestorePage struct {
	adminLayout
	Backup  backupRow
	Confirm string
}

// newAdminBackupRestorePage starts the restore confirmation.
func (s *Server) newAdminBackupRestorePage(r *http.Request) *adminBackupRestorePage {
	return &adminBackupRestorePage{adminLayout: s.adminPage(r, "Restore a backup", "backups")}
}

// renderRestorePage asks to confirm the restore of backup name.
func (s *Server) renderRestorePage(w http.ResponseWriter, r *http.Request, status int, p *adminBackupRestorePage, name string) {
	if s.Backups == nil {
		s.errorPage(w, r, errBackupsOff)
		return
	}
	info, err := s.Backups.Info(r.Context(), name)
	if err == nil && info.Status != backup.StatusOK {
		err = pixpool.Errorf(pixpool.ENOTFOUND, "The backup %s failed; there is nothing to restore.", name)
	}
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	p.Confirm = restoreConfirmation
	p.Backup = backupRow{Info: info, Counts: tableCounts(info.Rows), Took: info.Took.Round(time.Millisecond).String()}
	s.render(w, r, status, "admin_backup_restore.html", p)
}

func (s *Server) handlePortalRestoreForm(w http.ResponseWriter, r *http.Request) {
	s.renderRestorePage(w, r, http.StatusOK, s.newAdminBackupRestorePage(r), r.URL.Query().Get("name"))
}

// handlePortalRestore restores a listed backup once RESTORE has been
// typed, and shows the report.
func (s *Server) handlePortalRestore(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminBackupRestorePage(r)
	name := r.PostFormValue("name")
	if strings.TrimSpace(r.PostFormValue("confirm")) != restoreConfirmation {
		s.logError(r, errNoRestoreConfirmation)
		d.Error = pixpool.ErrorMessage(errNoRestoreConfirmation)
		s.renderRestorePage(w, r, http.StatusBadRequest, d, name)
		return
	}
	if s.Backups == nil {
		s.errorPage(w, r, errBackupsOff)
		return
	}
	rep, err := s.Backups.RestoreNamed(context.WithoutCancel(r.Context()), name, restoreOptions(r))
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		s.errorPage(w, r, err)
		return
	} else if err != nil {
		s.logError(r, err)
		d.Error = pixpool.ErrorMessage(err)
		s.renderRestorePage(w, r, ErrorStatus(err), d, name)
		return
	}
	s.restored(w, r, d.adminLayout, rep)
}

// handlePortalRestoreUpload restores an uploaded archive. The form sends
// the confirmation before the file, so the file is read only once the
// restore is confirmed; the CSRF token comes in the query string, as for
// uploads.
func (s *Server) handlePortalRestoreUpload(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminBackupsPage(r)
	if s.Backups == nil {
		s.backupFailed(w, r, d, "upload", errBackupsOff, nil)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, backup.MaxArchiveBytes+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		s.backupFailed(w, r, d, "upload", pixpool.Errorf(pixpool.EINVALID, "Send the backup file as a multipart form."), nil)
		return
	}
	confirmed := false
	for {
		part, err := mr.NextPart()
		if err != nil {
			// The end of the form, or a broken one, without a file.
			err = pixpool.Errorf(pixpool.EINVALID, "Choose a backup file (pixpool-backup-….tar.gz) to restore.")
			if !confirmed {
				err = errNoRestoreConfirmation
			}
			s.backupFailed(w, r, d, "upload", err, nil)
			return
		}
		switch part.FormName() {
		case "confirm":
			v, _ := io.ReadAll(io.LimitReader(part, 64))
			confirmed = strings.TrimSpace(string(v)) == restoreConfirmation
		case "file":
			if !confirmed {
				s.backupFailed(w, r, d, "upload", errNoRestoreConfirmation, nil)
				return
			}
			if part.FileName() == "" {
				continue // no file chosen
			}
			rep, err := s.Backups.Restore(context.WithoutCancel(r.Context()), archiveReader{part}, restoreOptions(r))
			if err != nil {
				s.backupFailed(w, r, d, "upload", err, nil)
				return
			}
			s.restored(w, r, d.adminLayout, rep)
			return
		}
	}
}

// restored shows a restore's report on the backups page, in the layout
// of the page that asked for it. A restore ends every session but the
// admin's own, and that one only if their account is in the backup;
// without it, or without admin rights in the backup, the page shows the
// report alone.
func (s *Server) restored(w http.ResponseWriter, r *http.Request, l adminLayout, rep *backup.Report) {
	ctx := r.Context()
	a := authFrom(ctx)
	s.logger().Warn("backup restored in the admin portal", "backup", rep.Backup, "by", a.user.Username)
	loggedOut := false
	if _, err := s.Store.Session(ctx, a.session.TokenHash); err != nil {
		loggedOut = true
	} else if u, err := s.Store.User(ctx, a.user.ID); err != nil || u.Disabled {
		loggedOut = true
	} else {
		l.User = u
	}
	l.PortalNotice = "The backup " + rep.Backup + " was restored."
	p := &adminBackupsPage{adminLayout: l}
	if !loggedOut && p.User.Admin {
		s.renderBackupsPage(w, r, http.StatusOK, p, nil, toReportView(rep))
		return
	}
	p.Report, p.LoggedOut, p.NotAdmin = toReportView(rep), loggedOut, !loggedOut
	if loggedOut {
		s.clearSessionCookie(w, r)
		p.User, p.CSRF = nil, ""
	}
	p.Nav = ""
	s.render(w, r, http.StatusOK, "admin_backups.html", p)
}
