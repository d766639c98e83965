package http

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/backup"
)

// Backups in the admin API (adminAPIRoutes registers the routes) and the
// parts the portal's page (admin_backups.go) shares with it.

// errBackupsOff answers backup routes of a Server without a Backups
// service.
var errBackupsOff = pixpool.Errorf(pixpool.EUNAVAILABLE, "Backups are not set up on this server.")

// withBackups answers an admin API backup route 503 when the server has
// no Backups service.
func (s *Server) withBackups(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Backups == nil {
			s.Error(w, r, errBackupsOff)
			return
		}
		h(w, r)
	}
}

// backupName reads the {name} of a backup route. A name that cannot be a
// backup's names none: 404, as for a backup that does not exist.
func backupName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if backup.ValidName(name) != nil {
		return "", pixpool.Errorf(pixpool.ENOTFOUND, "There is no backup %q.", name)
	}
	return name, nil
}

// restoreOptions keeps the restoring admin logged in, if their account is
// in the backup.
func restoreOptions(r *http.Request) backup.RestoreOptions {
	a := authFrom(r.Context())
	return backup.RestoreOptions{KeepSession: a.session, KeepUser: a.user}
}

// tableCount is one table's row count, for listing in table order.
type tableCount struct {
	Table string
	Rows  int64
}

// tableCounts orders row counts as pixpool.BackupTables does, with any
// tables this build does not know after them, by name.
func tableCounts(rows map[string]int64) []tableCount {
	var out []tableCount
	for _, t := range pixpool.BackupTables {
		if n, ok := rows[t.Name]; ok {
			out = append(out, tableCount{t.Name, n})
		}
	}
	var other []string
	for name := range rows {
		if pixpool.BackupTable(name) == nil {
			other = append(other, name)
		}
	}
	slices.Sort(other)
	for _, name := range other {
		out = append(out, tableCount{name, rows[name]})
	}
	return out
}

// archiveReader reads an uploaded archive, turning a read failure into an
// error the client can act on: a body over the limit is ETOOLARGE, any
// other failure (a connection cut short) EINVALID.
type archiveReader struct{ r io.Reader }

func (a archiveReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return n, pixpool.Errorf(pixpool.ETOOLARGE, "The backup is larger than %d GiB.", backup.MaxArchiveBytes>>30)
	}
	return n, pixpool.Errorf(pixpool.EINVALID, "The backup could not be read in full: the upload was cut short.")
}

// backupJSON is a backup as the admin API lists it: backup.Info with the
// time taken in milliseconds, as elsewhere in the admin API.
type backupJSON struct {
	Name      string           `json:"name"`
	CreatedAt time.Time        `json:"created_at"`
	Trigger   string           `json:"trigger"`
	By        string           `json:"by,omitempty"`
	Status    string           `json:"status"`
	Error     string           `json:"error,omitempty"`
	Size      int64            `json:"size"`
	SHA256    string           `json:"sha256,omitempty"`
	Schema    int              `json:"schema,omitempty"`
	Rows      map[string]int64 `json:"rows"`
	TookMS    float64          `json:"took_ms"`
}

func toBackupJSON(i *backup.Info) backupJSON {
	rows := i.Rows
	if rows == nil {
		rows = map[string]int64{}
	}
	return backupJSON{i.Name, i.CreatedAt, i.Trigger, i.By, i.Status, i.Error, i.Size, i.SHA256, i.Schema, rows, durationMS(i.Took)}
}

// restoreJSON is a restore's report as the admin API answers it.
type restoreJSON struct {
	Backup        string                `json:"backup"`
	CreatedAt     time.Time             `json:"created_at"`
	Rows          map[string]int64      `json:"rows"`
	MissingImages []backup.MissingImage `json:"missing_images"`
	MissingCount  int                   `json:"missing_count"`
	Warnings      []string              `json:"warnings"`
	TookMS        float64               `json:"took_ms"`
}

func toRestoreJSON(rep *backup.Report) restoreJSON {
	j := restoreJSON{Backup: rep.Backup, CreatedAt: rep.CreatedAt, Rows: rep.Rows, MissingImages: rep.MissingImages,
		MissingCount: rep.MissingCount, Warnings: rep.Warnings, TookMS: durationMS(rep.Took)}
	if j.Rows == nil {
		j.Rows = map[string]int64{}
	}
	if j.MissingImages == nil {
		j.MissingImages = []backup.MissingImage{}
	}
	if j.Warnings == nil {
		j.Warnings = []string{}
	}
	return j
}

// handleAPIAdminBackups lists the backups, newest first, with the schedule
// and retention.
func (s *Server) handleAPIAdminBackups(w http.ResponseWriter, r *http.Request) {
	infos, err := s.Backups.List(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	cfg, err := s.Backups.Config(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := struct {
		Backups []backupJSON  `json:"backups"`
		Config  backup.Config `json:"config"`
	}{Backups: []backupJSON{}, Config: cfg}
	for _, i := range infos {
		out.Backups = append(out.Backups, toBackupJSON(i))
	}
	writeJSON(w, http.StatusOK, out)
}

// handleAPIAdminBackupCreate takes a backup now and answers once it is
// stored and verified. It goes on if the client goes away: a backup cut
// short would only be recorded as failed.
func (s *Server) handleAPIAdminBackupCreate(w http.ResponseWriter, r *http.Request) {
	info, err := s.Backups.Create(context.WithoutCancel(r.Context()), backup.TriggerAPI, authFrom(r.Context()).user.Username)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toBackupJSON(info))
}

func (s *Server) handleAPIAdminBackup(w http.ResponseWriter, r *http.Request) {
	name, err := backupName(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	info, err := s.Backups.Info(r.Context(), name)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toBackupJSON(info))
}

// handleAPIAdminBackupArchive downloads a good backup's archive.
func (s *Server) handleAPIAdminBackupArchive(w http.ResponseWriter, r *http.Request) {
	name, err := backupName(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.sendArchive(w, r, name, s.Error)
}

// sendArchive streams backup name's archive as a download; fail answers
// an error before anything is sent.
func (s *Server) sendArchive(w http.ResponseWriter, r *http.Request, name string, fail func(http.ResponseWriter, *http.Request, error)) {
	rc, info, err := s.Backups.Open(r.Context(), name)
	if err != nil {
		fail(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="pixpool-`+name+`.tar.gz"`) // names are [a-z0-9-]
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if info.SHA256 != "" {
		h.Set("ETag", `"`+info.SHA256+`"`)
	}
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.logger().Warn("backup download cut short", "backup", name, "err", err)
	}
}

// handleAPIAdminBackupRestore restores a stored backup and answers with
// the report. Once started, it finishes even if the client goes away.
func (s *Server) handleAPIAdminBackupRestore(w http.ResponseWriter, r *http.Request) {
	name, err := backupName(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	rep, err := s.Backups.RestoreNamed(context.WithoutCancel(r.Context()), name, restoreOptions(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Warn("backup restored", "backup", rep.Backup, "by", authFrom(r.Context()).user.Username)
	writeJSON(w, http.StatusOK, toRestoreJSON(rep))
}

// archiveTypes are the Content-Types an uploaded archive may come as.
var archiveTypes = []string{"application/gzip", "application/x-gzip", "application/octet-stream"}

// handleAPIAdminBackupRestoreUpload restores the archive in the request
// body (application/gzip or application/octet-stream, at most
// backup.MaxArchiveBytes) and answers with the report.
func (s *Server) handleAPIAdminBackupRestoreUpload(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !slices.Contains(archiveTypes, mt) {
			s.Error(w, r, pixpool.Errorf(pixpool.EUNSUPPORTED, "Send the backup archive as the body, with Content-Type application/gzip."))
			return
		}
	}
	if r.ContentLength > backup.MaxArchiveBytes {
		s.Error(w, r, pixpool.Errorf(pixpool.ETOOLARGE, "The backup is larger than %d GiB.", backup.MaxArchiveBytes>>30))
		return
	}
	body := archiveReader{http.MaxBytesReader(w, r.Body, backup.MaxArchiveBytes)}
	rep, err := s.Backups.Restore(context.WithoutCancel(r.Context()), body, restoreOptions(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Warn("backup restored from an upload", "backup", rep.Backup, "by", authFrom(r.Context()).user.Username)
	writeJSON(w, http.StatusOK, toRestoreJSON(rep))
}

// handleAPIAdminBackupConfig sets the schedule and retention; either may
// be left out to keep it. It answers with both as saved.
func (s *Server) handleAPIAdminBackupConfig(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Schedule *string `json:"schedule"`
		Keep     *int    `json:"keep"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		s.Error(w, r, err)
		return
	}
	if body.Schedule == nil && body.Keep == nil {
		s.Error(w, r, pixpool.Errorf(pixpool.EINVALID, "Give schedule, keep or both."))
		return
	}
	cfg, err := s.Backups.Config(r.Context())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	setIf(&cfg.Schedule, body.Schedule)
	setIf(&cfg.Keep, body.Keep)
	if err := s.Backups.SetConfig(r.Context(), cfg); err != nil {
		s.Error(w, r, err)
		return
	}
	s.logger().Info("backup schedule set", "schedule", cfg.Schedule, "keep", cfg.Keep, "by", authFrom(r.Context()).user.Username)
	if cfg, err = s.Backups.Config(r.Context()); err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}
