package http

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
)

// The portal's backups page: the list with downloads, a backup now, the
// schedule and retention, and restores (of a listed backup, after a page
// that asks to type RESTORE, or of an uploaded file). A restore answers
// with its report rather than a redirect, since the report is nowhere
// else to be found.

// restoreConfirmation must be typed to restore a backup.
const restoreConfirmation = "RESTORE"

// errNoRestoreConfirmation refuses a restore the admin did not confirm.
var errNoRestoreConfirmation = pixpool.Errorf(pixpool.EINVALID, "Type %s in capitals to confirm. Nothing was restored.", restoreConfirmation)

// adminBackupsPage is admin_backups.html's data.
type adminBackupsPage struct {
	adminLayout
	Off     bool // serve has no Backups service
	Backups []backupRow
	Form    backupForm
	Confirm string // what to type to restore
	// Report is the outcome of the restore just made.
	Report *reportView
	// Only the report is shown: the restore logged the admin out (their
	// account is not in the backup) or took their admin rights.
	LoggedOut, NotAdmin bool
}

// backupForm is the schedule and retention form, as saved or typed.
type backupForm struct {
	Daily bool
	Time  string // HH:MM, UTC
	Keep  string
}

func formFromConfig(c backup.Config) backupForm {
	f := backupForm{Time: backup.DefaultSchedule, Keep: strconv.Itoa(c.Keep)}
	if sched, err := backup.ParseSchedule(c.Schedule); err == nil && sched != "off" {
		f.Daily, f.Time = true, sched
	}
	return f
}

// config reads the form; a time is needed only for daily backups.
func (f backupForm) config() (backup.Config, error) {
	keep, err := strconv.Atoi(strings.TrimSpace(f.Keep))
	if err != nil {
		return backup.Config{}, pixpool.Errorf(pixpool.EINVALID, "Keep must be a whole number of backups, 1 to %d.", backup.MaxKeep)
	}
	c := backup.Config{Schedule: "off", Keep: keep}
	if f.Daily {
		if strings.TrimSpace(f.Time) == "" || strings.EqualFold(strings.TrimSpace(f.Time), "off") {
			return c, pixpool.Errorf(pixpool.EINVALID, "Give the time of day, in UTC, of the daily backup.")
		}
		c.Schedule = f.Time
	}
	return c, nil
}

// backupRow is one line of the backup list.
type backupRow struct {
	*backup.Info
	Counts []tableCount
	Took   string
}

// How says what started the backup, and who.
func (r backupRow) How() string {
	how := r.Trigger
	switch r.Trigger {
	case backup.TriggerSchedule:
		how = "Scheduled"
	case backup.TriggerPortal:
		how = "Admin portal"
	case backup.TriggerAPI:
		how = "API"
	case backup.TriggerCLI:
		how = "Command line"
	}
	if r.By != "" {
		how += ", by " + r.By
	}
	return how
}

// reportView is a restore's report as the page shows it.
type reportView struct {
	*backup.Report
	Counts []tableCount
	Took   string
	More   int // missing images beyond those listed
}

func toReportView(rep *backup.Report) *reportView {
	return &reportView{Report: rep, Counts: tableCounts(rep.Rows), Took: rep.Took.Round(time.Millisecond).String(),
		More: rep.MissingCount - len(rep.MissingImages)}
}

// newAdminBackupsPage starts the backups page.
func (s *Server) newAdminBackupsPage(r *http.Request) *adminBackupsPage {
	return &adminBackupsPage{adminLayout: s.adminPage(r, "Backups", "backups")}
}

// renderBackupsPage renders the backups page; form, if not nil, is the
// schedule form as typed.
func (s *Server) renderBackupsPage(w http.ResponseWriter, r *http.Request, status int, p *adminBackupsPage, form *backupForm, rep *reportView) {
	p.Off, p.Confirm, p.Report = s.Backups == nil, restoreConfirmation, rep
	if p.Off {
		s.render(w, r, status, "admin_backups.html", p)
		return
	}
	ctx := r.Context()
	infos, err := s.Backups.List(ctx)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	for _, i := range infos {
		p.Backups = append(p.Backups, backupRow{Info: i, Counts: tableCounts(i.Rows), Took: i.Took.Round(time.Millisecond).String()})
	}
	cfg, err := s.Backups.Config(ctx)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	p.Form = formFromConfig(cfg)
	if form != nil {
		p.Form = *form
	}
	s.render(w, r, status, "admin_backups.html", p)
}

func (s *Server) handlePortalBackups(w http.ResponseWriter, r *http.Request) {
	s.renderBackupsPage(w, r, http.StatusOK, s.newAdminBackupsPage(r), nil, nil)
}

// backupFailed shows err on the backups page, beside the form named by
// errorFor.
func (s *Server) backupFailed(w http.ResponseWriter, r *http.Request, d *adminBackupsPage, errorFor string, err error, form *backupForm) {
	s.logError(r, err)
	d.Error, d.ErrorFor = pixpool.ErrorMessage(err), errorFor
	s.renderBackupsPage(w, r, ErrorStatus(err), d, form, nil)
}

// handlePortalBackupCreate takes a backup now. It goes on if the browser
// goes away, and answers once the backup is stored and verified.
func (s *Server) handlePortalBackupCreate(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminBackupsPage(r)
	if s.Backups == nil {
		s.backupFailed(w, r, d, "create", errBackupsOff, nil)
		return
	}
	admin := authFrom(r.Context()).user.Username
	if _, err := s.Backups.Create(context.WithoutCancel(r.Context()), backup.TriggerPortal, admin); err != nil {
		s.backupFailed(w, r, d, "create", err, nil)
		return
	}
	redirect(w, r, "/admin/backups?msg=backup-taken")
}

// handlePortalBackupConfig saves the schedule and retention.
func (s *Server) handlePortalBackupConfig(w http.ResponseWriter, r *http.Request) {
	d := s.newAdminBackupsPage(r)
	f := backupForm{Daily: r.PostFormValue("schedule") == "daily", Time: r.PostFormValue("time"), Keep: r.PostFormValue("keep")}
	var err error = errBackupsOff
	if s.Backups != nil {
		var c backup.Config
		if c, err = f.config(); err == nil {
			err = s.Backups.SetConfig(r.Context(), c)
		}
	}
	if err != nil {
		s.backupFailed(w, r, d, "config", err, &f)
		return
	}
	redirect(w, r, "/admin/backups?msg=backup-config")
}

// handlePortalBackupDownload sends a backup's archive.
func (s *Server) handlePortalBackupDownload(w http.ResponseWriter, r *http.Request) {
	if s.Backups == nil {
		s.errorPage(w, r, errBackupsOff)
		return
	}
	name, err := backupName(r)
	if err != nil {
		s.errorPage(w, r, err)
		return
	}
	s.sendArchive(w, r, name, s.errorPage)
}
