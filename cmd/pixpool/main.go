// Command pixpool is the whole of pixpool in one binary: the web server,
// and the tools to manage users and API keys.
//
//	pixpool serve [flags]           run the web tier on embedded stores
//	pixpool cachenode [flags]       run one cache node (memcached protocol)
//	pixpool pool status|resize N|capacity MB|policy P|clear|keys NODE
//	pixpool bench [--url URL] [--nodes 1,2,4,8] [flags]
//	pixpool migrate --to-db URL --to-blob URL [--from-data DIR]
//	pixpool analyze [--data DIR] FILE
//	pixpool user create [--admin] NAME
//	pixpool user list
//	pixpool user set-password NAME
//	pixpool apikey create [--name N] USER
//	pixpool backup create|list|restore NAME|FILE|config
//	pixpool version
//
// Every flag can also be set by an environment variable: --compat-user is
// PIXPOOL_COMPAT_USER.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pixpool/pixpool"
)

const usage = `pixpool: a self-hostable image store with an elastic cache tier.

Usage:
  pixpool serve [flags]                 run the web server (see pixpool serve -h)
  pixpool cachenode [flags]             run one cache node speaking the memcached protocol
  pixpool pool COMMAND                  inspect and change the running server's cache pool (pixpool pool -h)
  pixpool bench [flags]                 measure this install: throughput, latency, hit rate (pixpool bench -h)
  pixpool migrate --to-db URL --to-blob URL   copy an install to other stores (SQLite+folder to PostgreSQL+S3)
  pixpool analyze [--data DIR] FILE     print the labels and text recognised in an image
  pixpool user create [--admin] NAME    create an account (password from PIXPOOL_PASSWORD or stdin)
  pixpool user list                     list accounts
  pixpool user set-password NAME        set a password (from PIXPOOL_PASSWORD or stdin)
  pixpool apikey create [--name N] USER create an API key and print its secret once
  pixpool backup COMMAND                take, list and restore backups of the accounts and metadata (pixpool backup -h)
  pixpool version                       print the version

Every flag may also be set by PIXPOOL_<FLAG> (--s3-secret-key: PIXPOOL_S3_SECRET_KEY), and every
PIXPOOL_ variable read from a file by PIXPOOL_<NAME>_FILE: keep secrets off the command line.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

// exitStatus prints err, if any, and returns the process's exit status: 0
// for success, 2 for a bad command line and 1 for any other failure.
func exitStatus(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	}
	fmt.Fprintln(stderr, "pixpool:", err)
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// usageError is a bad command line, as opposed to a failure while running.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// run dispatches a command line; it is main without the process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 && inLambda() {
		args = []string{"serve"} // deployed as the function's bootstrap
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "cachenode":
		return runCachenode(ctx, rest, stdout, stderr)
	case "pool":
		return runPool(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case "analyze":
		return runAnalyze(ctx, rest, stdout, stderr)
	case "user":
		return runUser(ctx, rest, stdin, stdout, stderr)
	case "apikey":
		return runAPIKey(ctx, rest, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "pixpool", pixpool.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Errorf("unknown command %q", cmd)}
	}
}
