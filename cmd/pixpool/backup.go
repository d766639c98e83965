package main

import (
	"bufio"
	"cmp"
	"context"
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
	cache := &manager.StoreRestore{Store: svc.Store, Running: poolRunning(svc.Store),
		Auth: func(ctx context.Context, client *pool.Client, nodes []pool.NodeInfo) error {
			return setPoolAuth(ctx, client, svc.Store, nodes, os.Getenv(envName("cache-auth-file")))
		}}
	svc.AfterRestore = cache.AfterRestore
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
	if cache.Note != "" {
		fmt.Fprintln(stdout, "cache:", cache.Note)
	}
	return nil
}

// poolRunning reports whether a server runs the cache pool of store: its
// manager holds the pool lease; with it free, no cache pool runs (or its
// server died and the pool with it).
func poolRunning(store pixpool.Store) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		probe := "backup-restore/" + newHolder()
		won, err := store.AcquireLease(ctx, leaseName, probe, time.Second)
		if err != nil {
			return false, err
		}
		if won {
			store.ReleaseLease(context.WithoutCancel(ctx), leaseName, probe)
		}
		return !won, nil
	}
}
