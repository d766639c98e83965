package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/pixpool/pixpool"
)

// envPrefix starts the environment variable of every flag: --compat-user
// is also PIXPOOL_COMPAT_USER. A flag given on the command line wins.
// Every such variable, and every other that pixpool reads
// (PIXPOOL_ADMIN_PASSWORD, PIXPOOL_PASSWORD), may instead name a file to
// read the value from, with _FILE appended: PIXPOOL_DB_FILE=/run/secrets/db
// (see lookupEnv). Secrets then stay off command lines, which every local
// user can read, and out of the environment.
const envPrefix = "PIXPOOL_"

// fileSuffix turns a variable's name into that of the file holding its
// value.
const fileSuffix = "_FILE"

// lookupEnv returns the value of the variable name, or the contents of
// the file named by name_FILE, without its trailing newline; ok is false
// if neither is set. Both set is an error, as is a file that cannot be
// read.
func lookupEnv(name string) (value string, ok bool, err error) {
	v, set := os.LookupEnv(name)
	path, fromFile := os.LookupEnv(name + fileSuffix)
	switch {
	case set && fromFile:
		return "", false, fmt.Errorf("both %s and %s are set: set one", name, name+fileSuffix)
	case set:
		return v, true, nil
	case !fromFile:
		return "", false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", name+fileSuffix, err)
	}
	return strings.TrimRight(string(b), "\r\n"), true, nil
}

// envName returns the environment variable that sets flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseFlags parses args, then fills every flag not given from its
// environment variable, or the file its _FILE variable names.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		v, ok, e := lookupEnv(envName(f.Name))
		if e != nil {
			err = e
			return
		}
		if ok {
			if e := f.Value.Set(v); e != nil {
				err = usageError{fmt.Errorf("%s=%q: %v", envName(f.Name), pixpool.Redact(v), e)}
			}
		}
	})
	return err
}

// byteSize is a flag value like "20MiB", "512KiB", "1GiB" or a plain
// number of bytes.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > 1<<40/mult {
		return fmt.Errorf("want a positive size such as 20MiB, got %q", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// sizeOrOff is a byteSize that also takes 0 (or 0 with a unit): off.
type sizeOrOff int64

func (b *sizeOrOff) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *sizeOrOff) Set(s string) error {
	if n, err := strconv.ParseFloat(strings.TrimRight(strings.TrimSpace(s), "KMGiBkmgib"), 64); err == nil && n == 0 {
		*b = 0
		return nil
	}
	if err := (*byteSize)(b).Set(s); err != nil {
		return fmt.Errorf("want a size such as 64MiB, or 0 for none, got %q", s)
	}
	return nil
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("pixpool", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}
