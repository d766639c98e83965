package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// ErrBusy is returned, wrapping the context's error, when a hash could not
// start before its context ended: every slot stayed taken.
var ErrBusy = errors.New("password: too many hashes at once")

// Limiter bounds how many hashes and checks run at once. Each argon2id
// hash takes Params.Memory (19 MiB by default) and a core for a while, so
// a burst of logins or sign-ups must queue rather than run together. A
// process shares one Limiter between everything that hashes; callers
// bound their wait with their context. A Limiter must not be copied after
// first use.
type Limiter struct {
	// Max is how many hashes run at once. If zero, runtime.GOMAXPROCS(0).
	Max int

	once  sync.Once
	slots chan struct{}
}

func (l *Limiter) init() {
	l.once.Do(func() {
		n := l.Max
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		l.slots = make(chan struct{}, n)
	})
}

// acquire takes a slot, waiting until one frees or ctx ends.
func (l *Limiter) acquire(ctx context.Context) error {
	l.init()
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
}

func (l *Limiter) release() { <-l.slots }

// Acquire takes a slot as a hash would, for work that must wait its turn
// with the hashes (and for tests); call release once done.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(l.release) }, nil
}

// InUse reports how many hashes run now.
func (l *Limiter) InUse() int {
	l.init()
	return len(l.slots)
}

// Hash is Hash within the limit.
func (l *Limiter) Hash(ctx context.Context, pw string, p Params) (string, error) {
	if err := l.acquire(ctx); err != nil {
		return "", err
	}
	defer l.release()
	return Hash(pw, p)
}

// Check is Check within the limit.
func (l *Limiter) Check(ctx context.Context, pw, hash string) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return Check(pw, hash)
}
