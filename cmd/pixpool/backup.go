package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pixpool/pixpool"
	"github.com/pixpool/pixpool/autoscale"
	"github.com/pixpool/pixpool/backup"
	"github.com/pixpool/pixpool/manager"
	"github.com/pixpool/pixpool/pool"
	"github.com/pixpool/pixpool/service"
)

const backupUsage = `usage: pixpool backup COMMAND [flags]
  create                  take a backup now and print its name, size and rows
  list                    list the backups, newest first
  restore [--yes] NAME|FILE
                          restore a stored backup, or a downloaded archive file,
                          replacing every account, API key, image record and setting
  config [--schedule HH:MM|off] [--keep N]
                          show, or set, the daily backup's time (UTC) and how many are kept
Every command takes --data, --db and --blob (with --s3-access-key, --s3-secret-key)
as pixpool serve does, to find the stores. Backups live in the blob store under backups/.`

// poolStateSetting is the setting in which the manager keeps the pool's
// state; a backup carries it, and a restore applies the backup's
// configuration from it.
const poolStateSetting = "pool.state"

// backupTempDir returns the folder backups are spooled in: "tmp" in the
// data folder, beside the database rather than in a /tmp that may be
// held in memory. It removes the leftovers of backups and restores that
// crashed, once a day old.
func backupTempDir(data string, logger *slog.Logger) (string, error) {
	dir := filepath.Join(data, "tmp")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("temporary folder: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("temporary folder: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "pixpool-backup-") && !strings.HasPrefix(e.Name(), "pixpool-restore-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				logger.Warn("remove a leftover backup file", "path", filepath.Join(dir, e.Name()), "err", err)
			}
		}
	}
	return dir, nil
}

// afterRestore is serve's backup.Service.AfterRestore: it applies the
// backup's cache capacity, policy and mode to the running pool (a follower
// forwards them to the leader) and clears the cache, so no image is served
// from before the restore. Without a cache there is nothing to do.
func (m *Main) afterRestore(ctx context.Context, settings map[string]string) error {
	if m.Manager == nil {
		return nil
	}
	var problems []string
	if st, ok, err := restoredPoolState(settings); err != nil {
		problems = append(problems, err.Error())
	} else if ok {
		if st.CapacityMB > 0 {
			if err := m.Manager.SetCapacity(ctx, st.CapacityMB); err != nil {
				problems = append(problems, "The backup's cache capacity was not applied: "+errorText(err))
			}
		}
		if st.Policy != "" {
			if err := m.Manager.SetPolicy(ctx, st.Policy); err != nil {
				problems = append(problems, "The backup's cache policy was not applied: "+errorText(err))
			}
		}
		if st.Mode != "" {
			if err := m.Manager.SetMode(ctx, st.Mode, st.Auto); err != nil {
				problems = append(problems, "The backup's pool mode was not applied: "+errorText(err))
			}
		}
	}
	if err := m.Manager.Clear(ctx); err != nil {
		problems = append(problems, "The cache was not cleared, so it may serve images from before the restore until they are evicted: "+errorText(err))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, " "))
	}
	return nil
}

// restoredPoolState reads the pool state a backup's settings carry; ok is
// false if there is none (a backup of a server without a cache).
func restoredPoolState(settings map[string]string) (st manager.State, ok bool, err error) {
	v, ok := settings[poolStateSetting]
	if !ok {
		return st, false, nil
	}
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return st, false, fmt.Errorf("The backup's cache pool configuration could not be read (%v), so it was not applied.", err)
	}
	return st, true, nil
}

// errorText is an error as a warning shows it: a user-facing message
// alone, anything else whole (admins read warnings).
func errorText(err error) string {
	if pixpool.ErrorCode(err) != pixpool.EINTERNAL {
		return pixpool.ErrorMessage(err)
	}
	return err.Error()
}

// backupFlags find the stores, as serve's flags do.
type backupFlags struct {
	storeFlags
	blob, accessKey, secretKey *string
}

func addBackupFlags(fs *flag.FlagSet) backupFlags {
	return backupFlags{
		storeFlags: addStoreFlags(fs),
		blob:       fs.String("blob", "", "blob store of the server when not the folder in --data (an s3:// URL)"),
		accessKey:  fs.String("s3-access-key", "", "S3 access key for --blob (default: AWS_ACCESS_KEY_ID)"),
		secretKey:  fs.String("s3-secret-key", "", "S3 secret key for --blob (default: AWS_SECRET_ACCESS_KEY; prefer PIXPOOL_S3_SECRET_KEY_FILE to a flag)"),
	}
}

// open opens the stores and a backup service over them; the caller
// closes its Store.
func (f backupFlags) open(ctx context.Context) (*backup.Service, error) {
	st, err := f.storeFlags.open(ctx)
	if err != nil {
		return nil, err
	}
	blobs, err := openBlobs(ctx, *f.data, *f.blob, s3Keys{*f.accessKey, *f.secretKey})
	if err != nil {
		st.Close()
		return nil, err
	}
	svc := &backup.Service{Store: st, Blobs: blobs, Logger: discardLogger()}
	if _, err := os.Stat(*f.data); err == nil {
		if svc.TempDir, err = backupTempDir(*f.data, svc.Logger); err != nil {
			st.Close()
			return nil, err
		}
	}
	return svc, nil
}

// runBackup is `pixpool backup`: the backups of the server's stores, from
// the command line.
func runBackup(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, backupUsage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("backup "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, backupUsage+"\n\nFlags:")
		fs.PrintDefaults()
	}
	bf := addBackupFlags(fs)
	var (
		yes      *bool
		schedule optional[string]
		keep     optional[int]
	)
	switch args[0] {
	case "create", "list":
	case "restore":
		yes = fs.Bool("yes", false, "restore without asking to type RESTORE")
	case "config":
		fs.Func("schedule", "time of day of the daily backup, HH:MM in UTC, or off", func(s string) error {
			schedule = optional[string]{s, true}
			return nil
		})
		fs.Func("keep", "how many backups to keep, newest first (1 to 100)", func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil {
				return errors.New("want a whole number")
			}
			keep = optional[int]{n, true}
			return nil
		})
	default:
		return fmt.Errorf("unknown backup command %q\n%s", args[0], backupUsage)
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	nargs := 0
	if args[0] == "restore" {
		nargs = 1
	}
	if fs.NArg() != nargs {
		return errors.New(backupUsage)
	}
	if args[0] == "restore" && !*yes {
		if err := confirmRestore(fs.Arg(0), stdin, stderr); err != nil {
			return err
		}
	}
	svc, err := bf.open(ctx)
	if err != nil {
		return err
	}
	defer svc.Store.Close()

	switch args[0] {
	case "create":
		info, err := svc.Create(ctx, backup.TriggerCLI, osUser())
		if err != nil {
			return userErr(err)
		}
		fmt.Fprintf(stdout, "%s: %s, verified, took %v\nrows: %s\n", info.Name, service.FormatBytes(info.Size),
			info.Took.Round(time.Millisecond), rowsText(info.Rows))
		return nil
	case "list":
		return listBackups(ctx, svc, stdout)
	case "restore":
		return restoreBackup(ctx, svc, fs.Arg(0), stdout)
	case "config":
		return backupConfig(ctx, svc, schedule, keep, stdout)
	}
	return nil
}

// confirmRestore asks to type RESTORE on stdin, as the portal does.
func confirmRestore(what string, stdin io.Reader, stderr io.Writer) error {
	fmt.Fprintf(stderr, "Restoring %s replaces every account, password, API key, image record, analysis and setting\n"+
		"with the backup's, and logs everyone out. Image bytes are not in backups.\nType RESTORE to go ahead: ", what)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	if strings.TrimSpace(line) != "RESTORE" {
		fmt.Fprintln(stderr)
		return errors.New("not confirmed; nothing was restored (--yes skips the question)")
	}
	return nil
}

// osUser names who runs the command, for the backup's "by".
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// rowsText writes row counts in the order of pixpool.BackupTables.
func rowsText(rows map[string]int64) string {
	var parts []string
	for _, t := range pixpool.BackupTables {
		if n, ok := rows[t.Name]; ok {
			parts = append(parts, t.Name+" "+strconv.FormatInt(n, 10))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func listBackups(ctx context.Context, svc *backup.Service, stdout io.Writer) error {
	infos, err := svc.List(ctx)
	if err != nil {
		return userErr(err)
	}
	cfg, err := svc.Config(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s; keeping the newest %d\n\n", scheduleText(cfg.Schedule), cfg.Keep)
	if len(infos) == 0 {
		fmt.Fprintln(stdout, "no backups yet")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTAKEN (UTC)\tTRIGGER\tBY\tSTATUS\tSIZE\tROWS")
	for _, i := range infos {
		status, size, rows := i.Status, service.FormatBytes(i.Size), rowsText(i.Rows)
		if i.Status != backup.StatusOK {
			status, size, rows = "failed: "+i.Error, "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.CreatedAt.UTC().Format(time.DateTime), i.Trigger,
			cmp.Or(i.By, "-"), status, size, rows)
	}
	return tw.Flush()
}

func scheduleText(sched string) string {
	if s, err := backup.ParseSchedule(sched); err == nil && s != "off" {
		return "daily at " + s + " UTC"
	}
	return "no scheduled backups"
}

// optional is a flag's value and whether it was given.
type optional[T any] struct {
	v     T
	given bool
}

// backupConfig shows the schedule and retention, after setting those
// given.
func backupConfig(ctx context.Context, svc *backup.Service, schedule optional[string], keep optional[int], stdout io.Writer) error {
	cfg, err := svc.Config(ctx)
	if err != nil {
		return err
	}
	if schedule.given || keep.given {
		if schedule.given {
			cfg.Schedule = schedule.v
		}
		if keep.given {
			cfg.Keep = keep.v
		}
		if err := svc.SetConfig(ctx, cfg); err != nil {
			return userErr(err)
		}
		if cfg, err = svc.Config(ctx); err != nil {
			return err
		}
		fmt.Fprint(stdout, "saved: ")
	}
	fmt.Fprintf(stdout, "%s; keeping the newest %d\n", scheduleText(cfg.Schedule), cfg.Keep)
	return nil
}

// restoreBackup restores what (a file, if one exists at that path, else a
// stored backup's name) and prints the report.
func restoreBackup(ctx context.Context, svc *backup.Service, what string, stdout io.Writer) error {
	cache := &cliCache{store: svc.Store}
	svc.AfterRestore = cache.afterRestore
	var (
		rep *backup.Report
		err error
	)
	if fi, serr := os.Stat(what); serr == nil && fi.Mode().IsRegular() {
		f, oerr := os.Open(what)
		if oerr != nil {
			return oerr
		}
		defer f.Close()
		rep, err = svc.Restore(ctx, f, backup.RestoreOptions{})
	} else if backup.ValidName(what) == nil {
		rep, err = svc.RestoreNamed(ctx, what, backup.RestoreOptions{})
	} else {
		return fmt.Errorf("%q is neither a file nor the name of a backup (backup-YYYYMMDD-HHMMSS-xxxxxx; see pixpool backup list)", what)
	}
	if err != nil {
		return userErr(err)
	}
	fmt.Fprintf(stdout, "restored %s (taken %s UTC) in %v; every session was ended\n", rep.Backup,
		rep.CreatedAt.UTC().Format(time.DateTime), rep.Took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	for _, t := range pixpool.BackupTables {
		fmt.Fprintf(tw, "%s\t%d\n", t.Name, rep.Rows[t.Name])
	}
	tw.Flush()
	if rep.MissingCount == 0 {
		fmt.Fprintln(stdout, "every restored image has its bytes in the blob store")
	} else {
		fmt.Fprintf(stdout, "%d restored images are missing their bytes in the blob store:\n", rep.MissingCount)
		for _, m := range rep.MissingImages {
			fmt.Fprintf(stdout, "  %s\t%q\t%s\n", m.Owner, m.Key, m.BlobKey)
		}
		if more := rep.MissingCount - len(rep.MissingImages); more > 0 {
			fmt.Fprintf(stdout, "  ... and %d more\n", more)
		}
	}
	for _, w := range rep.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if cache.note != "" {
		fmt.Fprintln(stdout, "cache:", cache.note)
	}
	return nil
}

// cliCache applies a restored backup's pool configuration from the
// command line: through the running server's manager if there is one (as
// `pixpool pool` asks it), else into the stored pool state for the next
// serve.
type cliCache struct {
	store pixpool.Store
	note  string // what was done, for the output
}

// askTimeout bounds each request of a restore to the running server: it
// answers within a second unless it is gone.
const askTimeout = 30 * time.Second

func (c *cliCache) afterRestore(ctx context.Context, settings map[string]string) error {
	var problems []string
	st, ok, err := restoredPoolState(settings)
	if err != nil {
		problems = append(problems, err.Error())
	}
	// A running server's manager holds the pool lease; with it free, no
	// cache pool runs (or its server died and the pool with it).
	probe := "backup-restore/" + newHolder()
	won, err := c.store.AcquireLease(ctx, leaseName, probe, time.Second)
	if err != nil {
		return fmt.Errorf("Could not tell whether a server runs the cache pool: %v. Clear the cache (pixpool pool clear) and check its settings.", err)
	}
	if won {
		c.store.ReleaseLease(context.WithoutCancel(ctx), leaseName, probe)
		return c.keepForNextServe(ctx, st, ok, problems)
	}
	ask := func(op, arg, what string) bool {
		actx, cancel := context.WithTimeout(ctx, askTimeout)
		defer cancel()
		_, err := manager.Ask(actx, c.store, op, arg)
		if err != nil && actx.Err() != nil {
			return false // no answer: the server is gone
		}
		if err != nil {
			problems = append(problems, what+": "+err.Error())
		}
		return true
	}
	answered := true
	if ok {
		if st.CapacityMB > 0 {
			answered = ask("capacity", strconv.Itoa(st.CapacityMB), "The backup's cache capacity was not applied")
		}
		if answered && st.Policy != "" {
			answered = ask("policy", st.Policy, "The backup's cache policy was not applied")
		}
		if answered && st.Mode != "" {
			arg, _ := json.Marshal(struct {
				Mode string           `json:"mode"`
				Auto autoscale.Params `json:"auto"`
			}{st.Mode, st.Auto})
			answered = ask("mode", string(arg), "The backup's pool mode was not applied")
		}
	}
	if answered {
		answered = ask("clear", "", "The cache was not cleared, so it may serve images from before the restore until they are evicted")
	}
	if !answered {
		return c.keepForNextServe(ctx, st, ok, problems)
	}
	switch {
	case len(problems) > 0:
		c.note = "the running server was asked to apply the backup's pool settings and clear the cache; see the warnings"
	case ok:
		c.note = "the running server applied the backup's pool settings and cleared the cache"
	default:
		c.note = "the running server cleared the cache (the backup holds no pool settings)"
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, " "))
	}
	return nil
}

// keepForNextServe keeps the backup's pool configuration, if any, in the stored
// pool state (with its nodes) for the next serve, no cache pool running.
// Existing nodes of a fixed pool (--cache-nodes) outlive the server: they
// are cleared here.
func (c *cliCache) keepForNextServe(ctx context.Context, st manager.State, ok bool, problems []string) error {
	cur, err := manager.LoadState(ctx, c.store)
	if err != nil {
		return errors.New(strings.Join(append(problems, fmt.Sprintf("The backup's pool settings were not stored: %v.", err)), " "))
	}
	if ok {
		if st.CapacityMB > 0 {
			cur.CapacityMB = st.CapacityMB
		}
		if p, err := manager.ParsePolicy(st.Policy); err == nil {
			cur.Policy = p
		}
		if st.Mode == manager.ModeManual || st.Mode == manager.ModeAuto {
			cur.Mode, cur.Auto = st.Mode, st.Auto
		}
		b, err := json.Marshal(cur)
		if err == nil {
			err = c.store.SetSetting(ctx, poolStateSetting, string(b))
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("The backup's pool settings were not stored: %v.", err))
		}
	}
	c.note = "no cache pool was running, so there was no cache to clear"
	if ok {
		c.note = fmt.Sprintf("no cache pool was running, so there was no cache to clear; the next pixpool serve runs it with the backup's settings (%d MB per node, %s, %s mode)",
			cur.CapacityMB, cur.Policy, cur.Mode)
	}
	// Nodes given by address (their id) are not the server's own processes.
	var fixed []pool.NodeInfo
	for _, n := range cur.Nodes {
		if n.ID == n.Addr {
			fixed = append(fixed, n)
		}
	}
	if len(fixed) > 0 {
		client := &pool.Client{Logger: discardLogger()}
		if err := setPoolAuth(ctx, client, c.store, fixed, os.Getenv(envName("cache-auth-file"))); err != nil {
			problems = append(problems, fmt.Sprintf("The cache nodes' credentials: %v.", err))
		}
		client.SetLayout(cur.Epoch, fixed)
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := client.Flush(fctx)
		cancel()
		client.Close()
		if err != nil {
			problems = append(problems, fmt.Sprintf("The cache nodes could not all be cleared (%v): clear them (pixpool pool clear) once a server runs.", err))
		} else {
			c.note += fmt.Sprintf("; the %d cache nodes of --cache-nodes were cleared", len(fixed))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, " "))
	}
	return nil
}
