// Package fs is a pixpool.BlobStore on a local folder. Import it as blobfs.
//
// Key "img/ab/cdef.jpg" is the file dir/img/ab/cdef.jpg. Put writes to a
// temporary file in dir/.tmp, syncs it, renames it over the destination and
// syncs the destination's folder, so readers and crashes see either the old
// value or all of the new one, never part of it. Keys cannot start with a dot,
// so ".tmp" is never a key.
//
// Because keys are paths, a key cannot also be the folder of other keys: with
// "a/b" stored, Put of "a" fails with ECONFLICT, and the other way round.
// (S3 allows both; pixpool's key schemes never need it.)
//
// Delete leaves empty folders behind. With sharded keys ("img/ab/...") they
// are few, and pruning them would race with a Put into the same folder.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pixpool/pixpool"
)

// tmpDir is the folder, below the store's, for values being written.
const tmpDir = ".tmp"

// dirPerm keeps folders private to the user running pixpool, as they hold
// users' images; files get os.CreateTemp's 0o600 for the same reason.
const dirPerm = 0o700

var _ pixpool.BlobStore = (*Store)(nil)

// Store keeps blobs as files below one folder. It is safe for concurrent use,
// also by several processes, as long as they share one file system.
type Store struct {
	dir string // absolute, so a later chdir does not move the store
	tmp string // dir/.tmp
}

// Open returns a store on dir, creating dir if needed. Call SweepTemp at
// start-up to remove what crashed writes left behind.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blob/fs: open: no folder given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob/fs: open %q: %w", dir, err)
	}
	s := &Store{dir: abs, tmp: filepath.Join(abs, tmpDir)}
	if err := os.MkdirAll(s.tmp, dirPerm); err != nil {
		return nil, fmt.Errorf("blob/fs: open %q: %w", dir, err)
	}
	return s, nil
}

// Dir returns the store's folder as an absolute path.
func (s *Store) Dir() string { return s.dir }

// Put stores r's bytes under key. If r or ctx fails before the value is
// complete, nothing changes. A full disk or quota is ESTORAGEFULL.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	if err := s.put(ctx, key, r); err != nil {
		err = fmt.Errorf("blob/fs: put %q: %w", key, err)
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return pixpool.StorageFull(err)
		}
		return err
	}
	return nil
}

func (s *Store) put(ctx context.Context, key string, r io.Reader) (err error) {
	if err := pixpool.ValidateBlobKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.tmp, "put-*")
	if errors.Is(err, iofs.ErrNotExist) {
		// Someone removed .tmp while we ran; make it again.
		if err := os.MkdirAll(s.tmp, dirPerm); err != nil {
			return err
		}
		f, err = os.CreateTemp(s.tmp, "put-*")
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close() // may be closed already; the error does not matter then
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The last moment to give up without a trace.
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := s.path(key)
	if err := s.mkdirs(filepath.Dir(dst)); err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return conflict(key)
		}
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		if fi, serr := os.Lstat(dst); serr == nil && fi.IsDir() {
			// An empty folder that Delete left gives way; one that still
			// holds keys does not.
			if os.Remove(dst) != nil {
				return conflict(key)
			}
			err = os.Rename(f.Name(), dst)
		}
		if err != nil {
			return err
		}
	}
	// Make the new name durable too: without this a crash could lose the
	// rename, bringing back the old value after Put returned.
	return syncDir(filepath.Dir(dst))
}

// mkdirs creates dir and its missing parents, up to the store's folder,
// syncing each parent so the new folders outlast a crash with the file
// renamed into them. A file in the way gives ENOTDIR.
func (s *Store) mkdirs(dir string) error {
	if dir == s.dir {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return &iofs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
	case !errors.Is(err, iofs.ErrNotExist):
		return err
	}
	if err := s.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirPerm); err != nil {
		if errors.Is(err, iofs.ErrExist) {
			// A concurrent Put made it, or a file is in the way.
			return s.mkdirs(dir)
		}
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// Get returns the blob under key as an *os.File, or an error with code
// ENOTFOUND.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := pixpool.ValidateBlobKey(key); err != nil {
		return nil, fmt.Errorf("blob/fs: get %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob/fs: get %q: %w", key, err)
	}
	f, err := os.Open(s.path(key))
	if missing(err) {
		return nil, notFound(key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/fs: get %q: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob/fs: get %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		// A folder of other keys.
		f.Close()
		return nil, notFound(key)
	}
	return f, nil
}

// Delete removes the blob under key. A missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.delete(ctx, key); err != nil {
		return fmt.Errorf("blob/fs: delete %q: %w", key, err)
	}
	return nil
}

func (s *Store) delete(ctx context.Context, key string) error {
	if err := pixpool.ValidateBlobKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := s.path(key)
	fi, err := os.Lstat(p)
	if missing(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		// Not a blob but the folder of other keys: leave it alone.
		return nil
	}
	if err := os.Remove(p); err != nil {
		if missing(err) {
			return nil
		}
		return err
	}
	return syncDir(filepath.Dir(p))
}

// List calls fn for every key starting with prefix, in lexical order, and
// stops at the first error, which it returns as is. Temporaries, and files
// whose names are not valid keys (put there by hand), are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(pixpool.BlobInfo) error) error {
	// Walk only the deepest folder the prefix names, if that part is a valid
	// key; a prefix such as "../" then cannot leave the store, and it matches
	// nothing anyway.
	root := s.dir
	if i := strings.LastIndexByte(prefix, '/'); i > 0 && pixpool.ValidateBlobKey(prefix[:i]) == nil {
		root = s.path(prefix[:i])
	}
	var fnErr error // fn's error, returned unwrapped
	err := filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			if missing(err) {
				// The root is missing or a file, or a Delete raced us.
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			// Skip .tmp, stray folders and those that cannot hold a match.
			if pixpool.ValidateBlobKey(key) != nil ||
				!strings.HasPrefix(key, prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) || pixpool.ValidateBlobKey(key) != nil {
			return nil
		}
		fi, err := d.Info()
		if missing(err) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if fnErr = fn(pixpool.BlobInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); fnErr != nil {
			return filepath.SkipAll
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("blob/fs: list %q: %w", prefix, err)
	}
	return nil
}

// SweepTemp removes temporary files older than olderThan, which crashed or
// killed writes leave behind, and returns how many it removed. A Put in
// progress keeps touching its file, so an hour is safe; zero removes all,
// which is safe only while no Put runs.
func (s *Store) SweepTemp(olderThan time.Duration) (int, error) {
	entries, err := os.ReadDir(s.tmp)
	if missing(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("blob/fs: sweep: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	for _, e := range entries {
		fi, err := e.Info()
		if missing(err) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("blob/fs: sweep: %w", err)
		}
		if fi.ModTime().After(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.tmp, e.Name())); err != nil {
			return n, fmt.Errorf("blob/fs: sweep: %w", err)
		}
		n++
	}
	return n, nil
}

// path returns the file of a valid key.
func (s *Store) path(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key))
}

// ctxReader fails reads once ctx is done, so a cancelled Put stops copying
// and stores nothing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// missing reports whether err means that a path is not there, including
// when a parent in it is a file.
func missing(err error) bool {
	return errors.Is(err, iofs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func notFound(key string) error {
	return pixpool.Errorf(pixpool.ENOTFOUND, "blob %q not found", key)
}

func conflict(key string) error {
	return pixpool.Errorf(pixpool.ECONFLICT, "blob %q clashes with a stored key: a key cannot also be the folder of other keys", key)
}
