package sqlite

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DefaultReserveBytes is the size of reserve file that a server should
// keep (see KeepReserve): about the size the write-ahead log grows to
// between checkpoints.
const DefaultReserveBytes = 4 << 20

// refillEvery bounds how often a released reserve is tried again.
const refillEvery = 10 * time.Second

// reserve is the ballast file of one store.
type reserve struct {
	path string

	mu       sync.Mutex // guards size, released, lastFill
	size     int64      // 0: keep none (but release one that is there)
	released bool
	lastFill time.Time
}

// KeepReserve keeps a reserve file of size bytes beside the database (its
// name plus "-reserve"), making it now if there is room.
//
// SQLite needs free space even to delete, since a delete is written to the
// write-ahead log first. On a full disk the store removes the reserve to
// give it that space, so that deleting images (and logging in to do it)
// works when nothing else does; Open does the same when the database
// cannot open for want of space. The reserve is made again once deletes
// have freed the room. A server keeps one (DefaultReserveBytes); tools and
// tests need not.
func (s *Store) KeepReserve(size int64) {
	r := s.reserve
	r.mu.Lock()
	defer r.mu.Unlock()
	r.size = size
	if !r.released { // else Open gave it up just now: leave that room to SQLite
		r.released = !r.fill()
	}
	r.lastFill = time.Now()
}

// fill makes the reserve file whole if it is not, and reports whether it
// is. It gives up, leaving no partial file, when the disk has no room.
// r.mu must be held.
func (r *reserve) fill() bool {
	if r.size <= 0 {
		return true
	}
	if fi, err := os.Stat(r.path); err == nil && fi.Size() == r.size {
		return true
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false
	}
	// Zeros written, not a sparse file or a truncate: the blocks must be
	// taken now, to be given back when needed.
	_, err = io.CopyN(f, zeros{}, r.size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(r.path)
		return false
	}
	return true
}

// release removes the reserve file, reporting whether there was one to
// remove.
func (r *reserve) release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.Remove(r.path); err != nil {
		return false
	}
	r.released = true
	return true
}

// refill puts a released reserve back, at most every refillEvery, once
// deletes have freed the room for it.
func (r *reserve) refill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.released || r.size <= 0 || time.Since(r.lastFill) < refillEvery {
		return
	}
	r.lastFill = time.Now()
	if r.fill() {
		r.released = false
	}
}

// errLowOnSpace is PutImage's refusal while the reserve is down.
var errLowOnSpace = errors.New("sqlite: the reserve file is in use: the disk is full")

// LowOnSpace reports whether the store has had to give up its reserve and
// could not make it again yet: the disk is (nearly) full. Meanwhile
// PutImage refuses new images with ESTORAGEFULL, so that uploads do not
// take the room that deleting images needs.
func (s *Store) LowOnSpace() bool {
	s.reserve.refill()
	r := s.reserve
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.released && r.size > 0
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// withReserve runs write, and if it fails because the disk is full,
// releases the reserve and runs it once more. Only writes that free space,
// or let an operator in to free it, use the reserve: deleting images and
// sessions, and logging in. Uploads must not, or they would take the room
// that deleting them needs.
func (s *Store) withReserve(write func() error) error {
	err := write()
	if isFull(err) && s.reserve.release() {
		err = write()
	}
	if err == nil {
		s.reserve.refill()
	}
	return err
}

// isFull reports whether err says the disk (or a quota) is full.
func isFull(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		// SHMSIZE: no room to make the shared-memory file, at open.
		return e.Code()&0xff == sqlite3.SQLITE_FULL || e.Code() == sqlite3.SQLITE_IOERR_SHMSIZE
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
