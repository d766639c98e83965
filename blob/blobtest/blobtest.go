// Package blobtest is the conformance suite for pixpool.BlobStore: every
// backend runs the same Run, so they behave alike and can replace each other.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/pixpool/pixpool"
)

// Run tests the store that open returns. Run calls open once per subtest,
// and open must return a new, empty store, registering its own clean-up with
// t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) pixpool.BlobStore) {
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, open) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, open(t)) })
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, open(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, open(t)) })
	t.Run("NestedKeys", func(t *testing.T) { testNestedKeys(t, open(t)) })
	t.Run("List", func(t *testing.T) { testList(t, open(t)) })
	t.Run("FailingReader", func(t *testing.T) { testFailingReader(t, open) })
	t.Run("ContextCancel", func(t *testing.T) { testContextCancel(t, open) })
	t.Run("PutInProgressInvisible", func(t *testing.T) { testPutInProgress(t, open(t)) })
	t.Run("ConcurrentKeys", func(t *testing.T) { testConcurrentKeys(t, open(t)) })
	t.Run("ConcurrentSameKey", func(t *testing.T) { testConcurrentSameKey(t, open(t)) })
	t.Run("InvalidKeys", func(t *testing.T) { testInvalidKeys(t, open(t)) })
}

func testPutGet(t *testing.T, open func(t *testing.T) pixpool.BlobStore) {
	for _, tt := range []struct {
		name string
		val  []byte
	}{
		{"Empty", []byte{}},
		{"OneByte", []byte{0}},
		{"Text", []byte("hello, pixpool\n")},
		{"Large", randomBytes(1, 4<<20+17)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			mustPut(t, s, "img/ab/cdef.jpg", tt.val)
			got := mustGet(t, s, "img/ab/cdef.jpg")
			if len(got) != len(tt.val) || sha256.Sum256(got) != sha256.Sum256(tt.val) {
				t.Fatalf("Get returned %d bytes (SHA-256 %x), want %d (SHA-256 %x)",
					len(got), sha256.Sum256(got), len(tt.val), sha256.Sum256(tt.val))
			}
		})
	}
}

func testOverwrite(t *testing.T, s pixpool.BlobStore) {
	mustPut(t, s, "k", []byte("a longer first value"))
	mustPut(t, s, "k", []byte("second"))
	if got, want := string(mustGet(t, s, "k")), "second"; got != want {
		t.Fatalf("Get=%q, want %q", got, want)
	}
	if got, want := listAll(t, s, ""), map[string]int64{"k": 6}; !maps.Equal(got, want) {
		t.Fatalf("List=%v, want %v", got, want)
	}
}

func testGetMissing(t *testing.T, s pixpool.BlobStore) {
	for _, key := range []string{"missing", "img/ab/missing.jpg"} {
		mustNotFound(t, s, key)
	}
	// A key whose "folder" exists is still missing.
	mustPut(t, s, "img/ab/cdef.jpg", []byte("x"))
	mustNotFound(t, s, "img/ab")
	mustNotFound(t, s, "img")
	mustNotFound(t, s, "img/ab/cdef")
}

func testDelete(t *testing.T, s pixpool.BlobStore) {
	ctx := t.Context()
	t.Run("Missing", func(t *testing.T) {
		if err := s.Delete(ctx, "never-stored"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
		if err := s.Delete(ctx, "no/such/folder"); err != nil {
			t.Fatalf("Delete of a missing nested key: %v", err)
		}
	})
	t.Run("ThenGet", func(t *testing.T) {
		mustPut(t, s, "img/ab/cdef.jpg", []byte("x"))
		mustPut(t, s, "img/ab/other.jpg", []byte("y"))
		if err := s.Delete(ctx, "img/ab/cdef.jpg"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		mustNotFound(t, s, "img/ab/cdef.jpg")
		if err := s.Delete(ctx, "img/ab/cdef.jpg"); err != nil {
			t.Fatalf("second Delete: %v", err)
		}
		if got, want := listAll(t, s, ""), map[string]int64{"img/ab/other.jpg": 1}; !maps.Equal(got, want) {
			t.Fatalf("List=%v, want %v", got, want)
		}
		// The key can be stored again.
		mustPut(t, s, "img/ab/cdef.jpg", []byte("again"))
		if got, want := string(mustGet(t, s, "img/ab/cdef.jpg")), "again"; got != want {
			t.Fatalf("Get=%q, want %q", got, want)
		}
	})
}

func testNestedKeys(t *testing.T, s pixpool.BlobStore) {
	keys := []string{
		"img/ab/cdef.jpg",
		"img/ab/cdeg.jpg",
		"img/ac/cdef.jpg",
		"thumb/ab/cdef.jpg",
		"a/b/c/d/e/f/g/h",
		"top",
		"0-9_a.b-c",
		"a..b/c...d",
	}
	for _, k := range keys {
		mustPut(t, s, k, []byte("value of "+k))
	}
	for _, k := range keys {
		if got, want := string(mustGet(t, s, k)), "value of "+k; got != want {
			t.Errorf("Get(%q)=%q, want %q", k, got, want)
		}
	}
}

func testList(t *testing.T, s pixpool.BlobStore) {
	ctx := t.Context()
	all := map[string]int64{
		"img/ab/cdef.jpg":   1,
		"img/ab/cdeg.jpg":   2,
		"img/abc.gif":       3,
		"img/ac/x.png":      4,
		"thumb/ab/cdef.jpg": 5,
		"top":               0,
	}
	for k, n := range all {
		mustPut(t, s, k, bytes.Repeat([]byte{'x'}, int(n)))
	}
	for _, tt := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"img/ab/cdef.jpg", "img/ab/cdeg.jpg", "img/abc.gif", "img/ac/x.png", "thumb/ab/cdef.jpg", "top"}},
		{"img/", []string{"img/ab/cdef.jpg", "img/ab/cdeg.jpg", "img/abc.gif", "img/ac/x.png"}},
		{"img/ab/", []string{"img/ab/cdef.jpg", "img/ab/cdeg.jpg"}},
		{"img/ab", []string{"img/ab/cdef.jpg", "img/ab/cdeg.jpg", "img/abc.gif"}},
		{"img/a", []string{"img/ab/cdef.jpg", "img/ab/cdeg.jpg", "img/abc.gif", "img/ac/x.png"}},
		{"img/ab/cde", []string{"img/ab/cdef.jpg", "img/ab/cdeg.jpg"}},
		{"img/ab/cdef.jpg", []string{"img/ab/cdef.jpg"}},
		{"t", []string{"thumb/ab/cdef.jpg", "top"}},
		{"top", []string{"top"}},
		{"img/ab/cdef.jpg/", nil},
		{"img/ad/", nil},
		{"zzz", nil},
		{"../", nil},
		{"/", nil},
		{"IMG/", nil},
	} {
		t.Run(fmt.Sprintf("Prefix=%q", tt.prefix), func(t *testing.T) {
			want := map[string]int64{}
			for _, k := range tt.want {
				want[k] = all[k]
			}
			var got []pixpool.BlobInfo
			err := s.List(ctx, tt.prefix, func(bi pixpool.BlobInfo) error {
				got = append(got, bi)
				return nil
			})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			seen := map[string]int64{}
			for _, bi := range got {
				if _, dup := seen[bi.Key]; dup {
					t.Errorf("List reported %q twice", bi.Key)
				}
				seen[bi.Key] = bi.Size
				if bi.ModTime.IsZero() {
					t.Errorf("List: %q has a zero ModTime", bi.Key)
				}
			}
			if !maps.Equal(seen, want) {
				t.Fatalf("List=%v, want %v", seen, want)
			}
		})
	}
	t.Run("StopsOnError", func(t *testing.T) {
		errStop := errors.New("stop")
		calls := 0
		err := s.List(ctx, "", func(pixpool.BlobInfo) error {
			calls++
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("List returned %v, want the callback's error", err)
		}
		if calls != 1 {
			t.Fatalf("callback ran %d times after returning an error, want 1", calls)
		}
	})
}

// errReader is the failure of failingReader.
var errReader = errors.New("blobtest: reader failed")

// failingReader returns n bytes, then errReader.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errReader
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = 'f'
	}
	r.n -= n
	return n, nil
}

func testFailingReader(t *testing.T, open func(t *testing.T) pixpool.BlobStore) {
	for _, n := range []int{0, 1, 100 << 10} {
		t.Run(fmt.Sprintf("After%dBytes", n), func(t *testing.T) {
			s := open(t)
			ctx := t.Context()
			mustPut(t, s, "old", []byte("old value"))
			if err := s.Put(ctx, "old", &failingReader{n: n}); err == nil {
				t.Fatal("Put with a failing reader over an old value succeeded")
			}
			if got, want := string(mustGet(t, s, "old")), "old value"; got != want {
				t.Fatalf("Get after a failed Put=%q, want the old %q", got, want)
			}
			if err := s.Put(ctx, "img/ab/new.jpg", &failingReader{n: n}); err == nil {
				t.Fatal("Put with a failing reader succeeded")
			}
			mustNotFound(t, s, "img/ab/new.jpg")
			if got, want := listAll(t, s, ""), map[string]int64{"old": 9}; !maps.Equal(got, want) {
				t.Fatalf("List after failed Puts=%v, want %v", got, want)
			}
		})
	}
}

// cancelReader returns n bytes, calls cancel halfway and then carries on as
// if nothing happened: the store must notice the context by itself.
type cancelReader struct {
	n, read int
	cancel  context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	n := min(len(p), r.n-r.read, 4096)
	for i := range p[:n] {
		p[i] = 'c'
	}
	r.read += n
	if r.read >= r.n/2 {
		r.cancel()
	}
	return n, nil
}

func testContextCancel(t *testing.T, open func(t *testing.T) pixpool.BlobStore) {
	t.Run("During", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, "old", []byte("old value"))
		for _, key := range []string{"old", "img/ab/new.jpg"} {
			ctx, cancel := context.WithCancel(t.Context())
			err := s.Put(ctx, key, &cancelReader{n: 1 << 20, cancel: cancel})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Put(%q) with a context cancelled midway returned %v, want context.Canceled", key, err)
			}
		}
		if got, want := string(mustGet(t, s, "old")), "old value"; got != want {
			t.Fatalf("Get after a cancelled Put=%q, want the old %q", got, want)
		}
		mustNotFound(t, s, "img/ab/new.jpg")
		if got, want := listAll(t, s, ""), map[string]int64{"old": 9}; !maps.Equal(got, want) {
			t.Fatalf("List after cancelled Puts=%v, want %v", got, want)
		}
	})
	t.Run("Before", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Put(ctx, "k", strings.NewReader("v")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a cancelled context returned %v, want context.Canceled", err)
		}
		mustNotFound(t, s, "k")
	})
}

// blockingReader returns head, then blocks until release is closed, then
// returns tail.
type blockingReader struct {
	head, tail []byte
	started    chan struct{} // closed once head is read
	release    chan struct{}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		if len(r.head) == 0 {
			close(r.started)
		}
		return n, nil
	}
	<-r.release
	if len(r.tail) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.tail)
	r.tail = r.tail[n:]
	return n, nil
}

func testPutInProgress(t *testing.T, s pixpool.BlobStore) {
	ctx := t.Context()
	mustPut(t, s, "old", []byte("old value"))
	val := randomBytes(2, 256<<10)
	for _, key := range []string{"old", "img/ab/new.jpg"} {
		r := &blockingReader{
			head:    val[:len(val)/2],
			tail:    val[len(val)/2:],
			started: make(chan struct{}),
			release: make(chan struct{}),
		}
		before := listAll(t, s, "")
		done := make(chan error, 1)
		go func() { done <- s.Put(ctx, key, r) }()
		select {
		case <-r.started:
		case err := <-done:
			t.Fatalf("Put(%q) returned %v before reading all of its value", key, err)
		}
		if key == "old" {
			if got, want := string(mustGet(t, s, key)), "old value"; got != want {
				t.Errorf("Get during a Put=%q, want the old %q", got, want)
			}
		} else {
			mustNotFound(t, s, key)
		}
		if got, want := listAll(t, s, ""), before; !maps.Equal(got, want) {
			t.Errorf("List during a Put=%v, want %v as before it", got, want)
		}
		close(r.release)
		if err := <-done; err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		if !bytes.Equal(mustGet(t, s, key), val) {
			t.Fatalf("Get(%q) after the Put did not return the value put", key)
		}
	}
}

func testConcurrentKeys(t *testing.T, s pixpool.BlobStore) {
	const n = 16
	val := func(i int) []byte { return randomBytes(uint64(100+i), 10<<10+i) }
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			// Half share a folder, half have their own.
			key := fmt.Sprintf("img/%02d/k%d", i%2, i)
			if err := s.Put(t.Context(), key, bytes.NewReader(val(i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Put: %v", err)
	}
	for i := range n {
		key := fmt.Sprintf("img/%02d/k%d", i%2, i)
		if !bytes.Equal(mustGet(t, s, key), val(i)) {
			t.Errorf("Get(%q) differs from the value put", key)
		}
	}
	if got, want := len(listAll(t, s, "img/")), n; got != want {
		t.Fatalf("List found %d keys, want %d", got, want)
	}
}

// testConcurrentSameKey has writers race on one key while readers check that
// every value they see is whole: n bytes all equal to one writer's byte.
func testConcurrentSameKey(t *testing.T, s pixpool.BlobStore) {
	const (
		key     = "img/ab/same.jpg"
		writers = 8
		rounds  = 4
		size    = 128 << 10
	)
	ctx := t.Context()
	mustPut(t, s, key, bytes.Repeat([]byte{'0'}, size))
	check := func(what string, b []byte) {
		t.Helper()
		if len(b) != size {
			t.Errorf("%s: got %d bytes, want %d", what, len(b), size)
			return
		}
		if c := b[0]; c < '0' || c > '0'+writers || bytes.IndexFunc(b, func(r rune) bool { return byte(r) != c }) >= 0 {
			t.Errorf("%s: got a mixed value, not one that was put", what)
		}
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc, err := s.Get(ctx, key)
				if err != nil {
					t.Errorf("Get during Puts: %v", err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					t.Errorf("reading during Puts: %v", err)
					return
				}
				check("Get during Puts", b)
			}
		})
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			v := bytes.Repeat([]byte{byte('1' + i)}, size)
			for range rounds {
				if err := s.Put(ctx, key, bytes.NewReader(v)); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	got := mustGet(t, s, key)
	check("Get after Puts", got)
	if got[0] == '0' {
		t.Error("Get after Puts returned the value from before them")
	}
}

// invalidKeys must be refused with EINVALID by every store. The rule: 1 to
// 1024 bytes of "/"-separated segments, each 1 to 255 bytes of [a-z0-9._-]
// not starting with a dot.
var invalidKeys = []string{
	"",
	".",
	"..",
	"/abs",
	"/",
	"a/",
	"a//b",
	"a/../b",
	"a/./b",
	"../a",
	".hidden",
	".tmp/x",
	"a/.b",
	`a\b`,
	`..\a`,
	"A",
	"img/AB/c.jpg",
	"a b",
	"a:b",
	"a\x00b",
	"a\nb",
	"caf\u00e9",
	"a*b",
	"a?b",
	"a%2fb",
	strings.Repeat("a", 256),
	strings.Repeat("a/", 512) + "a",
}

func testInvalidKeys(t *testing.T, s pixpool.BlobStore) {
	ctx := t.Context()
	for _, key := range invalidKeys {
		name := key
		if len(name) > 20 {
			name = fmt.Sprintf("%.20s...(%d bytes)", name, len(key))
		}
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			if err := s.Put(ctx, key, strings.NewReader("v")); pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Errorf("Put returned %v, want code %s", err, pixpool.EINVALID)
			}
			if _, err := s.Get(ctx, key); pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Errorf("Get returned %v, want code %s", err, pixpool.EINVALID)
			}
			if err := s.Delete(ctx, key); pixpool.ErrorCode(err) != pixpool.EINVALID {
				t.Errorf("Delete returned %v, want code %s", err, pixpool.EINVALID)
			}
		})
	}
	if got := listAll(t, s, ""); len(got) != 0 {
		t.Fatalf("List after refused Puts=%v, want nothing", got)
	}
	// The longest valid key and segment are accepted.
	for _, key := range []string{
		strings.Repeat("a", 255),
		strings.Repeat("a/", 511) + "aa",
	} {
		mustPut(t, s, key, []byte("v"))
		if got := string(mustGet(t, s, key)); got != "v" {
			t.Errorf("Get of a %d-byte key=%q, want %q", len(key), got, "v")
		}
	}
}

func mustPut(t *testing.T, s pixpool.BlobStore, key string, val []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(val)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s pixpool.BlobStore, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	b, err := io.ReadAll(rc)
	cerr := rc.Close()
	if err != nil {
		t.Fatalf("Get(%q): reading: %v", key, err)
	}
	if cerr != nil {
		t.Fatalf("Get(%q): closing: %v", key, cerr)
	}
	return b
}

func mustNotFound(t *testing.T, s pixpool.BlobStore, key string) {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err == nil {
		rc.Close()
		t.Fatalf("Get(%q) succeeded, want code %s", key, pixpool.ENOTFOUND)
	}
	if got, want := pixpool.ErrorCode(err), pixpool.ENOTFOUND; got != want {
		t.Fatalf("Get(%q) returned %v (code %s), want code %s", key, err, got, want)
	}
}

// listAll returns the keys under prefix with their sizes.
func listAll(t *testing.T, s pixpool.BlobStore, prefix string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	err := s.List(t.Context(), prefix, func(bi pixpool.BlobInfo) error {
		m[bi.Key] = bi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return m
}

// randomBytes returns n reproducible random bytes.
func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}
