package sqlite

import (
	"os"
	"path/filepath"
	"sync"
)

// walSync makes committed transactions durable against power loss, for
// the writes whose callers act on them at once: the database runs with
// synchronous=NORMAL, so a commit reaches the write-ahead log's file but
// not the disk (a process crash keeps it, a power loss or OS crash may
// not); pixpool deletes an image's old bytes right after the row stops
// naming them, and answers an upload as stored, so those commits must
// stay. Syncing the log's file after the commit is what synchronous=FULL
// does at every commit, only here it is done for those commits alone and
// shared: one fsync serves every commit that finished before it began
// (group commit), so concurrent uploads pay about one fsync between them.
type walSync struct {
	path  string
	fsync func(path string) error // syncFile; tests count

	mu       sync.Mutex // guards the rest
	cond     *sync.Cond
	started  uint64 // syncs begun
	finished uint64 // the last sync finished (syncs finish in order)
	running  bool
	err      error  // the last finished sync's
	calls    uint64 // sync calls so far (tests)
}

func newWALSync(dbPath string) *walSync {
	if abs, err := filepath.Abs(dbPath); err == nil {
		dbPath = abs // as SQLite keeps it: a later chdir moves nothing
	}
	w := &walSync{path: dbPath + "-wal", fsync: syncFile}
	w.cond = sync.NewCond(&w.mu)
	return w
}

// sync returns once a fsync of the log that began after sync was called
// has finished, with its error.
func (w *walSync) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	// A sync under way may have begun before the caller's commit; the next
	// one to begin covers it.
	want := w.started + 1
	for w.finished < want {
		if w.running {
			w.cond.Wait()
			continue
		}
		w.running = true
		w.started++
		n := w.started
		w.mu.Unlock()
		err := w.fsync(w.path)
		w.mu.Lock()
		w.running, w.finished, w.err = false, n, err
		w.cond.Broadcast()
	}
	return w.err
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
