package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestHashCheck(t *testing.T) {
	h, err := Hash("correct horse", Params{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("Hash()=%q, want argon2id PHC string with default params", h)
	}
	if strings.Contains(h, "correct horse") {
		t.Fatal("hash contains the password")
	}
	if err := Check("correct horse", h); err != nil {
		t.Fatalf("Check(right)=%v, want nil", err)
	}
	if err := Check("correct horsf", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Check(wrong)=%v, want ErrMismatch", err)
	}
	h2, _ := Hash("correct horse", Params{})
	if h == h2 {
		t.Fatal("two hashes of one password are equal; salt not random")
	}
}

func TestCheck_Malformed(t *testing.T) {
	for _, h := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5",
	} {
		if err := Check("x", h); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("Check(%q)=%v, want a malformed-hash error", h, err)
		}
	}
}

// TestLimiter: a caller whose context ends while all Max slots are taken
// gets ErrBusy without hashing; once a slot frees, hashing goes on.
func TestLimiter(t *testing.T) {
	l := &Limiter{Max: 2}
	cheap := Params{Memory: 64, Time: 1, Threads: 1}
	h, err := Hash("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}

	// Many callers at once all finish (run under -race).
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = l.Hash(context.Background(), "pw", cheap)
			} else {
				err = l.Check(context.Background(), "pw", h)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := l.InUse(); got != 0 {
		t.Fatalf("InUse()=%d after every call returned, want 0", got)
	}

	// Hold both slots: a caller waits until its context ends.
	var releases []func()
	for range 2 {
		release, err := l.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := l.Hash(ctx, "pw", cheap); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with every slot taken=%v, want ErrBusy and context.Canceled", err)
	}
	releases[0]()
	releases[0]() // a second call is a no-op
	if err := l.Check(context.Background(), "pw", h); err != nil {
		t.Fatalf("Check after a slot freed=%v", err)
	}
	if got := l.InUse(); got != 1 {
		t.Fatalf("InUse()=%d, want 1", got)
	}
}
