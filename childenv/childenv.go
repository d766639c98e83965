// Package childenv builds the environment of the programs pixpool runs
// (cache nodes, Tesseract, memcached in tests): only what a program needs
// to run, never the variables that carry pixpool's own settings and
// secrets (PIXPOOL_ADMIN_PASSWORD, PIXPOOL_DB, AWS_SECRET_ACCESS_KEY,
// PGPASSWORD, DATABASE_URL, ...). A child that crashes, logs its
// environment, or is inspected by another local user (/proc/PID/environ
// is readable by the same user) then reveals nothing.
//
// Every exec.Command of the repository sets Cmd.Env to Env(...); a nil
// Env would hand the child everything.
package childenv

import (
	"os"
	"runtime"
	"strings"
)

// Base names the variables every child gets from this process, when set:
// where to find programs, a home and a temporary folder, the locale and
// the time zone (and the variables Windows programs cannot start
// without). Every LC_* variable is passed too.
var Base = []string{
	"PATH", "HOME", "TMPDIR", "LANG", "LANGUAGE", "TZ",
	"SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP", "USERPROFILE",
}

// Env returns the environment of a child: the variables of Base and LC_*
// that this process has, those named in pass that it has, then extra
// ("NAME=value" each), which the child gets as given and which win over
// the others. A variable of this process that looks like a secret or a
// pixpool setting (see Secret) is never passed, even if named in pass;
// only extra can give a child one.
func Env(pass []string, extra ...string) []string {
	var env []string
	seen := make(map[string]bool)
	for _, kv := range extra {
		name, _, _ := strings.Cut(kv, "=")
		seen[norm(name)] = true
	}
	for _, kv := range os.Environ() {
		name, _, ok := strings.Cut(kv, "=")
		n := norm(name)
		if !ok || name == "" || seen[n] || Secret(name) || !wanted(n, pass) {
			continue
		}
		seen[n] = true
		env = append(env, kv)
	}
	return append(env, extra...)
}

// wanted reports whether the variable of normalised name n goes to a
// child given pass.
func wanted(n string, pass []string) bool {
	if strings.HasPrefix(n, "LC_") {
		return true
	}
	for _, b := range Base {
		if n == b {
			return true
		}
	}
	for _, p := range pass {
		if n == norm(p) {
			return true
		}
	}
	return false
}

// secretPrefixes start the names of variables that configure pixpool or
// hold credentials for the stores it uses: pixpool's own (flags and
// passwords), AWS and S3 clients', libpq's (PGPASSWORD, PGPASSFILE, ...)
// and other clouds'.
var secretPrefixes = []string{"PIXPOOL_", "AWS_", "PG", "MINIO_", "GOOGLE_", "AZURE_", "GCS_"}

// secretWords mark a variable as a secret wherever they appear in its
// name.
var secretWords = []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "DATABASE_URL", "DSN", "PRIVATE_KEY", "API_KEY", "ACCESS_KEY"}

// Secret reports whether the variable name looks like a secret or a
// pixpool setting, which no child inherits.
func Secret(name string) bool {
	n := strings.ToUpper(name)
	for _, p := range secretPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// norm returns name as the system compares it: as it is, but in upper
// case on Windows, whose variable names ignore case.
func norm(name string) string {
	if runtime.GOOS == "windows" {
		return strings.ToUpper(name)
	}
	return name
}
