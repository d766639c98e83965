package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pixpool/pixpool"
	blobfs "github.com/pixpool/pixpool/blob/fs"
	blobs3 "github.com/pixpool/pixpool/blob/s3"
	"github.com/pixpool/pixpool/store/postgres"
	"github.com/pixpool/pixpool/store/sqlite"
)

// openDB opens the metadata store: PostgreSQL for a postgres:// URL, else
// SQLite, in the data folder when db is empty. On failure the store is a
// nil interface, never a nil pointer inside one, so callers may test it
// against nil.
func openDB(ctx context.Context, data, db string) (pixpool.Store, error) {
	switch {
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		s, err := postgres.Open(ctx, db)
		if err != nil {
			return nil, err
		}
		return s, nil
	case db == "":
		if data == "" {
			return nil, errors.New("--data must name a folder")
		}
		return openSQLite(filepath.Join(data, "pixpool.db"))
	case strings.HasPrefix(db, "sqlite:"):
		return openSQLite(strings.TrimPrefix(strings.TrimPrefix(db, "sqlite:"), "//"))
	}
	return nil, fmt.Errorf("--db %q: want a postgres:// URL, sqlite:PATH, or nothing for SQLite in --data", pixpool.Redact(db))
}

func openSQLite(path string) (pixpool.Store, error) {
	s, err := sqlite.Open(path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// s3Keys are S3 credentials given by flags; when empty, the usual AWS
// environment variables are used.
type s3Keys struct{ access, secret string }

// openBlobs opens the blob store: an S3-compatible bucket for an s3:// URL,
// else a folder, "blobs" in the data folder when blob is empty.
func openBlobs(ctx context.Context, data, blob string, keys s3Keys) (pixpool.BlobStore, error) {
	switch {
	case strings.HasPrefix(blob, "s3://"):
		cfg, err := blobs3.ParseURL(blob)
		if err != nil {
			return nil, err
		}
		if keys.access != "" || keys.secret != "" {
			// A key not given by flag is the AWS variable's, as the flags
			// say: deploy/kubernetes gives AWS_ACCESS_KEY_ID and
			// PIXPOOL_S3_SECRET_KEY_FILE.
			cfg.AccessKey = cmp.Or(keys.access, os.Getenv("AWS_ACCESS_KEY_ID"))
			cfg.SecretKey = cmp.Or(keys.secret, os.Getenv("AWS_SECRET_ACCESS_KEY"))
		}
		s, err := blobs3.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s, nil
	case blob == "":
		return openBlobDir(filepath.Join(data, "blobs"))
	case strings.HasPrefix(blob, "file:"):
		return openBlobDir(strings.TrimPrefix(strings.TrimPrefix(blob, "file:"), "//"))
	}
	return nil, fmt.Errorf("--blob %q: want an s3:// URL, file:PATH, or nothing for a folder in --data", pixpool.Redact(blob))
}

func openBlobDir(dir string) (pixpool.BlobStore, error) {
	s, err := blobfs.Open(dir)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// storeFlags are the flags by which the admin tools find the server's
// metadata store.
type storeFlags struct {
	data, db *string
}

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		data: fs.String("data", "./pixpool-data", "data folder of the server"),
		db:   fs.String("db", "", "metadata store of the server when not SQLite in --data (a postgres:// URL)"),
	}
}

func (f storeFlags) open(ctx context.Context) (pixpool.Store, error) {
	if *f.db == "" {
		if _, err := os.Stat(*f.data); err != nil {
			return nil, fmt.Errorf("data folder %s: %w", *f.data, err)
		}
	}
	return openDB(ctx, *f.data, *f.db)
}
