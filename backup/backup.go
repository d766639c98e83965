// Package backup takes and restores backups of pixpool's accounts and
// metadata: portable, verified archives (see archive.go for the format)
// kept in the blob store under Prefix, taken daily at a set time and on
// demand, the newest few kept.
//
// A backup holds the tables of pixpool.BackupTables: users with their
// password hashes, API key hashes, image metadata, analyses and settings,
// not the image bytes (they stay in the blob store) nor sessions or stats.
// It restores onto any store, SQLite or PostgreSQL, whichever it was taken
// from.
//
// In the blob store a backup NAME is two objects: backups/NAME.tar.gz, the
// archive, and backups/NAME.json, its Info, written only once the archive
// has been read back and verified. A backup is listed only with its Info,
// so a crash mid-backup leaves nothing that counts as one (and the next
// backup removes the leftover archive). Image blobs live under img/ and
// thumb/, with keys pixpool chooses, so no user key can reach Prefix.
package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pixpool/pixpool"
)

// Prefix is where backups live in the blob store.
const Prefix = "backups/"

// Triggers: what started a backup.
const (
	TriggerSchedule = "schedule"
	TriggerPortal   = "portal"
	TriggerAPI      = "api"
	TriggerCLI      = "cli"
)

// Statuses of a backup.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// Settings of the schedule and retention, and the settings a restore
// leaves as they are: the schedule's own, and the cache pool's running
// layout and requests (the backup's pool configuration is applied through
// AfterRestore instead).
const (
	SettingSchedule = "backup.schedule"
	SettingKeep     = "backup.keep"
	// settingLastScheduled is when the last scheduled backup was
	// attempted (RFC 3339): records may be pruned, this is not.
	settingLastScheduled = "backup.last_scheduled"
)

// KeepOnRestore are the settings a restore does not overwrite.
// "setup_token_sha256" is where older versions kept the admin setup
// token: a backup that holds it must not bring a setup link back.
var KeepOnRestore = []string{SettingSchedule, SettingKeep, settingLastScheduled, pixpool.PoolStateSetting, "pool.request", "pool.result", "setup_token_sha256", "pool.secret", "device.key", "variants.key"}

// NotBackedUp are the settings no backup holds: secrets that would reach
// whoever gets the archive, and that a restore keeps anyway (the cache
// nodes' password, the key that signs device cookies, the key that signs
// variant URLs, kept so that URLs signed since the backup keep working),
// or that a restore must drop: the key that signs share links
// ("share.key", see service.ShareKeySetting), so that no link works again
// after a restore, not even one revoked since the backup. A restore never
// imports them from an archive that holds them anyway (one made to): a
// name also in KeepOnRestore keeps the running server's value, any other
// ends up absent.
var NotBackedUp = []string{"pool.secret", "device.key", "share.key", "variants.key"}

// Defaults.
const (
	DefaultSchedule = "03:00" // UTC
	DefaultKeep     = 3
	MaxKeep         = 100
	// MaxArchiveBytes bounds an archive given to Restore.
	MaxArchiveBytes = 4 << 30
)

// Info describes one backup, as listed.
type Info struct {
	Name      string           `json:"name"`
	CreatedAt time.Time        `json:"created_at"`
	Trigger   string           `json:"trigger"`
	By        string           `json:"by,omitempty"`
	Status    string           `json:"status"`
	Error     string           `json:"error,omitempty"`
	Size      int64            `json:"size"`   // archive bytes
	SHA256    string           `json:"sha256"` // of the archive
	Schema    int              `json:"schema"`
	Rows      map[string]int64 `json:"rows"`
	Took      time.Duration    `json:"took"`
}

// Config is the schedule and retention.
type Config struct {
	// Schedule is the time of day, "HH:MM" in UTC, of the daily backup,
	// or "off".
	Schedule string `json:"schedule"`
	// Keep is how many good backups are kept, newest first.
	Keep int `json:"keep"`
}

// Service takes, lists and restores backups. Set its fields, then use it;
// its methods are safe for concurrent use. Every process sharing a store
// may run one: a lease in the store lets one backup or restore run at a
// time among them.
type Service struct {
	Store pixpool.Store
	Blobs pixpool.BlobStore
	// AfterRestore, if set, runs once a restore has committed, with the
	// backup's settings (those of KeepOnRestore included): cmd/pixpool
	// applies the backup's pool configuration and clears the cache. Its
	// error is reported as a warning; the restore stands.
	AfterRestore func(ctx context.Context, settings map[string]string) error
	// TempDir holds an archive while it is written or restored. If "",
	// the system's.
	TempDir string
	// Now is the clock; if nil, time.Now.
	Now    func() time.Time
	Logger *slog.Logger

	once    sync.Once
	holder  string    // this service's name in the lease
	started time.Time // the first scheduled backup is the first due after this
}

func (s *Service) init() {
	s.once.Do(func() {
		s.holder = "backup-" + randomHex(8)
		s.started = s.now()
	})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// nameRE matches backup names: backup-YYYYMMDD-HHMMSS-xxxxxx.
var nameRE = regexp.MustCompile(`^backup-\d{8}-\d{6}-[0-9a-f]{6}$`)

// ValidName reports whether name can name a backup, with an EINVALID
// error if not.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return pixpool.Errorf(pixpool.EINVALID, "%q is not a backup name (backup-YYYYMMDD-HHMMSS-xxxxxx).", name)
	}
	return nil
}

func archiveKey(name string) string { return Prefix + name + ".tar.gz" }
func infoKey(name string) string    { return Prefix + name + ".json" }

// Config returns the schedule and retention.
func (s *Service) Config(ctx context.Context) (Config, error) {
	c := Config{Schedule: DefaultSchedule, Keep: DefaultKeep}
	settings, err := s.Store.Settings(ctx)
	if err != nil {
		return c, err
	}
	if v, ok := settings[SettingSchedule]; ok {
		c.Schedule = v
	}
	if v, ok := settings[SettingKeep]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			c.Keep = n
		}
	}
	return c, nil
}

// SetConfig validates and saves the schedule and retention.
func (s *Service) SetConfig(ctx context.Context, c Config) error {
	sched, err := ParseSchedule(c.Schedule)
	if err != nil {
		return err
	}
	if c.Keep < 1 || c.Keep > MaxKeep {
		return pixpool.Errorf(pixpool.EINVALID, "Keep 1 to %d backups, not %d.", MaxKeep, c.Keep)
	}
	if err := s.Store.SetSetting(ctx, SettingSchedule, sched); err != nil {
		return err
	}
	return s.Store.SetSetting(ctx, SettingKeep, strconv.Itoa(c.Keep))
}

// ParseSchedule accepts "off" (or "") and a UTC time of day "H:MM" or
// "HH:MM", and returns it as "off" or "HH:MM".
func ParseSchedule(s string) (string, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" || s == "off" {
		return "off", nil
	}
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return "", pixpool.Errorf(pixpool.EINVALID, "The schedule must be a UTC time of day such as 03:00, or off; not %q.", s)
	}
	return fmt.Sprintf("%02d:%02d", hh, mm), nil
}

// List returns the backups, good and failed, newest first.
func (s *Service) List(ctx context.Context) ([]*Info, error) {
	var keys []string
	err := s.Blobs.List(ctx, Prefix, func(b pixpool.BlobInfo) error {
		if strings.HasSuffix(b.Key, ".json") {
			keys = append(keys, b.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var infos []*Info
	for _, k := range keys {
		info, err := s.readInfo(ctx, k)
		if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
			continue // removed meanwhile
		} else if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b *Info) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	return infos, nil
}

func (s *Service) readInfo(ctx context.Context, key string) (*Info, error) {
	rc, err := s.Blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var info Info
	if err := json.NewDecoder(io.LimitReader(rc, 1<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("backup record %s: %w", key, err)
	}
	return &info, nil
}

// Info returns one backup's record.
func (s *Service) Info(ctx context.Context, name string) (*Info, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	info, err := s.readInfo(ctx, infoKey(name))
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, pixpool.Errorf(pixpool.ENOTFOUND, "There is no backup %s.", name)
	}
	return info, err
}

// Open returns a good backup's archive, for download or restore.
func (s *Service) Open(ctx context.Context, name string) (io.ReadCloser, *Info, error) {
	info, err := s.Info(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if info.Status != StatusOK {
		return nil, nil, pixpool.Errorf(pixpool.ENOTFOUND, "The backup %s failed; it has no archive.", name)
	}
	rc, err := s.Blobs.Get(ctx, archiveKey(name))
	if pixpool.ErrorCode(err) == pixpool.ENOTFOUND {
		return nil, nil, pixpool.Errorf(pixpool.ENOTFOUND, "The archive of backup %s is missing from the blob store.", name)
	}
	return rc, info, err
}

// lease runs fn holding the store's backup lease, renewed while fn runs,
// so one backup or restore runs at a time among the processes sharing the
// store, and within this one (each call holds it under a name of its own).
func (s *Service) lease(ctx context.Context, fn func(ctx context.Context) error) error {
	s.init()
	const name, ttl = "backup", 2 * time.Minute
	holder := s.holder + "-" + randomHex(4)
	ok, err := s.Store.AcquireLease(ctx, name, holder, ttl)
	if err != nil {
		return err
	}
	if !ok {
		return pixpool.Errorf(pixpool.ECONFLICT, "Another backup or restore is running; try again when it has finished.")
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(ttl / 4)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			// An error (SQLite busy with this very restore's import, say)
			// is retried at the next tick; only a lease another holder
			// took stops the work.
			if ok, err := s.Store.AcquireLease(ctx, name, holder, ttl); err == nil && !ok {
				cancel(errors.New("another process took over the backup lease"))
				return
			}
		}
	})
	err = fn(ctx)
	close(stop)
	wg.Wait() // no renewal may land after the release
	cause := context.Cause(ctx)
	cancel(nil)
	s.Store.ReleaseLease(context.WithoutCancel(ctx), name, holder)
	if err != nil && cause != nil && cause != context.Canceled {
		return fmt.Errorf("%w (%v)", err, cause)
	}
	return err
}

// Create takes a backup now, then applies the retention. trigger is one
// of the Trigger constants, by the admin asking (or "").
func (s *Service) Create(ctx context.Context, trigger, by string) (*Info, error) {
	var info *Info
	err := s.lease(ctx, func(ctx context.Context) error {
		var err error
		info, err = s.create(ctx, trigger, by)
		return err
	})
	return info, err
}

// create takes a backup, holding the lease.
func (s *Service) create(ctx context.Context, trigger, by string) (*Info, error) {
	start := s.now()
	info := &Info{
		Name:      "backup-" + start.Format("20060102-150405") + "-" + randomHex(3),
		CreatedAt: start,
		Trigger:   trigger,
		By:        by,
	}
	err := s.write(ctx, info)
	info.Took = s.now().Sub(start)
	if err != nil {
		info.Status, info.Error = StatusFailed, pixpool.ErrorMessage(err)
		if pixpool.ErrorCode(err) == pixpool.EINTERNAL {
			info.Error = err.Error()
		}
		s.Blobs.Delete(context.WithoutCancel(ctx), archiveKey(info.Name))
		if perr := s.putInfo(context.WithoutCancel(ctx), info); perr != nil {
			s.logger().Error("record failed backup", "backup", info.Name, "err", perr)
		}
		s.logger().Error("backup failed", "backup", info.Name, "trigger", trigger, "err", err)
		return nil, fmt.Errorf("backup %s: %w", info.Name, err)
	}
	info.Status = StatusOK
	if err := s.putInfo(ctx, info); err != nil {
		s.Blobs.Delete(context.WithoutCancel(ctx), archiveKey(info.Name))
		return nil, fmt.Errorf("backup %s: %w", info.Name, err)
	}
	s.logger().Info("backup taken", "backup", info.Name, "trigger", trigger, "bytes", info.Size, "rows", info.Rows, "took", info.Took)
	if err := s.prune(ctx, info.Name); err != nil {
		s.logger().Warn("remove old backups", "err", err)
	}
	return info, nil
}

// write exports the store into an archive in the blob store and reads it
// back to verify it, filling in info.
func (s *Service) write(ctx context.Context, info *Info) error {
	schema, err := s.Store.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	sp, err := newSpool(s.TempDir)
	if err != nil {
		return fmt.Errorf("temporary files: %w", err)
	}
	defer sp.Close()
	if err := sp.fill(func(fn func(t *pixpool.BackupTableDef, row []any) error) error {
		return s.Store.ExportTables(ctx, func(t *pixpool.BackupTableDef, row []any) error {
			if t.Name == "settings" && slices.Contains(NotBackedUp, row[0].(string)) {
				return nil
			}
			return fn(t, row)
		})
	}); err != nil {
		return err
	}
	m := &Manifest{Format: Format, Schema: schema, Name: info.Name, CreatedAt: info.CreatedAt,
		Trigger: info.Trigger, By: info.By, Version: pixpool.Version}

	pr, pw := io.Pipe()
	hw := &hashingWriter{w: pw, h: sha256.New()}
	go func() { pw.CloseWithError(sp.writeTo(hw, m)) }()
	err = s.Blobs.Put(ctx, archiveKey(info.Name), pr)
	pr.CloseWithError(err) // stops the writer if Put gave up early
	if err != nil {
		return fmt.Errorf("store the archive: %w", err)
	}
	info.Size, info.SHA256 = hw.n, hex.EncodeToString(hw.h.Sum(nil))
	info.Schema, info.Rows = schema, m.Rows()

	// Read it back: what is stored must be what was written, and whole.
	rc, err := s.Blobs.Get(ctx, archiveKey(info.Name))
	if err != nil {
		return fmt.Errorf("read the archive back: %w", err)
	}
	defer rc.Close()
	back := &hashingWriter{w: io.Discard, h: sha256.New()}
	got, err := readArchive(io.TeeReader(rc, back), schema, nil)
	if err != nil {
		return fmt.Errorf("verify the archive: %w", err)
	}
	io.Copy(back, rc) // anything after the gzip stream counts too
	if back.n != info.Size || hex.EncodeToString(back.h.Sum(nil)) != info.SHA256 || !reflect.DeepEqual(got.Parts, m.Parts) {
		return errors.New("verify the archive: the stored archive differs from the one written")
	}
	return nil
}

func (s *Service) putInfo(ctx context.Context, info *Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return s.Blobs.Put(ctx, infoKey(info.Name), strings.NewReader(string(b)+"\n"))
}

// prune applies the retention after the good backup newest was taken:
// the newest Keep good backups stay, older ones go, and so do failed
// records older than the oldest kept and archives without a record
// (leftovers of a crash; none is being written, as this holds the lease).
func (s *Service) prune(ctx context.Context, newest string) error {
	cfg, err := s.Config(ctx)
	if err != nil {
		return err
	}
	infos, err := s.List(ctx)
	if err != nil {
		return err
	}
	var keep []*Info
	var drop []string
	for _, info := range infos {
		if info.Status == StatusOK && len(keep) < max(cfg.Keep, 1) {
			keep = append(keep, info)
		}
	}
	if !slices.ContainsFunc(keep, func(i *Info) bool { return i.Name == newest }) {
		return fmt.Errorf("the new backup %s is not among the newest %d; keeping everything", newest, cfg.Keep)
	}
	oldest := keep[len(keep)-1].CreatedAt
	recorded := make(map[string]bool)
	for _, info := range infos {
		recorded[info.Name] = true
		kept := slices.Contains(keep, info)
		if !kept && (info.Status == StatusOK || info.CreatedAt.Before(oldest)) {
			drop = append(drop, info.Name)
		}
	}
	err = s.Blobs.List(ctx, Prefix, func(b pixpool.BlobInfo) error {
		if name, ok := strings.CutSuffix(strings.TrimPrefix(b.Key, Prefix), ".tar.gz"); ok && !recorded[name] {
			drop = append(drop, name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range drop {
		// The record first: a backup without one no longer counts.
		if err := s.Blobs.Delete(ctx, infoKey(name)); err != nil {
			return err
		}
		if err := s.Blobs.Delete(ctx, archiveKey(name)); err != nil {
			return err
		}
		s.logger().Info("old backup removed", "backup", name)
	}
	return nil
}

// Report is the outcome of a restore.
type Report struct {
	Backup    string           `json:"backup"` // the archive's name
	CreatedAt time.Time        `json:"created_at"`
	Rows      map[string]int64 `json:"rows"`
	// MissingImages lists (up to 100 of) the restored images whose bytes
	// are not in the blob store; MissingCount counts them all.
	MissingImages []MissingImage `json:"missing_images"`
	MissingCount  int            `json:"missing_count"`
	Warnings      []string       `json:"warnings,omitempty"`
	Took          time.Duration  `json:"took"`
}

// MissingImage is an image row restored without its bytes.
type MissingImage struct {
	Owner   string `json:"owner"`
	Key     string `json:"key"`
	BlobKey string `json:"blob_key"`
}

// RestoreOptions are the caller's wishes for a restore.
type RestoreOptions struct {
	// KeepSession, if set, is the restoring admin's session: a restore
	// ends every session, but this one is made again if its user is in
	// the backup under the same id and name, so the admin stays logged in.
	KeepSession *pixpool.Session
	KeepUser    *pixpool.User
}

// RestoreNamed restores the backup name from the blob store.
func (s *Service) RestoreNamed(ctx context.Context, name string, opts RestoreOptions) (*Report, error) {
	rc, _, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return s.Restore(ctx, rc, opts)
}

// Restore replaces the accounts and metadata with an archive's. It first
// copies the archive aside and verifies all of it (checksums, manifest,
// schema version, every row, and that no row names a blob pixpool would
// not have given it: see rowCheck); then it imports it in one
// transaction, so a failure changes nothing; then AfterRestore runs.
func (s *Service) Restore(ctx context.Context, r io.Reader, opts RestoreOptions) (*Report, error) {
	start := s.now()
	f, err := os.CreateTemp(s.TempDir, "pixpool-restore-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("temporary file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(r, MaxArchiveBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the backup: %w", err)
	}
	if n > MaxArchiveBytes {
		return nil, pixpool.Errorf(pixpool.ETOOLARGE, "The backup is larger than %d GiB.", MaxArchiveBytes>>30)
	}
	schema, err := s.Store.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	live, err := s.liveOwners(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	chk := newRowCheck(live)
	m, err := readArchive(f, schema, chk.row)
	if err != nil {
		return nil, err
	}
	if chk.err != nil {
		return nil, chk.err
	}

	rep := &Report{Backup: m.Name, CreatedAt: m.CreatedAt, Rows: m.Rows()}
	var (
		owners   = make(map[int64]string)
		images   []MissingImage
		settings = make(map[string]string)
		refused  []string // NotBackedUp settings the archive held
	)
	err = s.lease(ctx, func(ctx context.Context) error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return s.Store.ImportTables(ctx, KeepOnRestore, func(yield func(t *pixpool.BackupTableDef, row []any) error) error {
			_, err := readArchive(f, schema, func(t *pixpool.BackupTableDef, row []any) error {
				switch t.Name {
				case "users":
					owners[row[0].(int64)] = row[1].(string)
				case "images":
					images = append(images, MissingImage{Owner: owners[row[1].(int64)], Key: row[2].(string), BlobKey: row[3].(string)})
				case "settings":
					// No backup holds these (see NotBackedUp), so an
					// archive that does was made to: its values are never
					// imported, whether the restore keeps the running
					// server's (KeepOnRestore) or drops it, to be made
					// afresh (share.key: a crafted one would make links
					// signed with it work).
					if name := row[0].(string); slices.Contains(NotBackedUp, name) {
						refused = append(refused, name)
						return nil
					}
					settings[row[0].(string)] = row[1].(string)
				}
				return yield(t, row)
			})
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", m.Name, err)
	}
	s.logger().Info("backup restored", "backup", m.Name, "rows", rep.Rows)

	ctx = context.WithoutCancel(ctx) // the restore happened: finish the report
	if len(refused) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("The backup held %s, which no backup made by pixpool holds (secrets); they were not restored.",
			strings.Join(refused, ", ")))
	}
	if opts.KeepSession != nil && opts.KeepUser != nil {
		if u, err := s.Store.User(ctx, opts.KeepUser.ID); err == nil && strings.EqualFold(u.Username, opts.KeepUser.Username) {
			if err := s.Store.CreateSession(ctx, opts.KeepSession); err != nil {
				rep.Warnings = append(rep.Warnings, "Your session could not be kept: "+err.Error())
			}
		}
	}
	if s.AfterRestore != nil {
		if err := s.AfterRestore(ctx, settings); err != nil {
			rep.Warnings = append(rep.Warnings, err.Error())
		}
	}
	if err := s.findMissing(ctx, rep, images); err != nil {
		rep.Warnings = append(rep.Warnings, "Could not check the image bytes: "+err.Error())
	}
	rep.Took = s.now().Sub(start)
	return rep, nil
}

// findMissing lists the restored images whose bytes are not stored.
func (s *Service) findMissing(ctx context.Context, rep *Report, images []MissingImage) error {
	stored := make(map[string]bool)
	if err := s.Blobs.List(ctx, "img/", func(b pixpool.BlobInfo) error { stored[b.Key] = true; return nil }); err != nil {
		return err
	}
	for _, img := range images {
		if !stored[img.BlobKey] {
			rep.MissingCount++
			if len(rep.MissingImages) < 100 {
				rep.MissingImages = append(rep.MissingImages, img)
			}
		}
	}
	return nil
}
