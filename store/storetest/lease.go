package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
)

// A lease's term is measured by the store's clock, which in these tests is
// the clock of this machine. The tests wait for a term to run out by
// polling with a deadline, never by sleeping a guessed amount.

// acquire calls AcquireLease and fails t unless it reports want.
func acquire(t *testing.T, s pixpool.Store, name, holder string, ttl time.Duration, want bool) {
	t.Helper()
	got, err := s.AcquireLease(t.Context(), name, holder, ttl)
	if err != nil {
		t.Fatalf("AcquireLease(%q, %q)=%v", name, holder, err)
	}
	if got != want {
		t.Fatalf("AcquireLease(%q, %q)=%t, want %t", name, holder, got, want)
	}
}

// release calls ReleaseLease and fails t on an error.
func release(t *testing.T, s pixpool.Store, name, holder string) {
	t.Helper()
	if err := s.ReleaseLease(t.Context(), name, holder); err != nil {
		t.Fatalf("ReleaseLease(%q, %q)=%v", name, holder, err)
	}
}

// sleepUntil sleeps until t, if it is in the future.
func sleepUntil(t time.Time) {
	time.Sleep(time.Until(t))
}

// holder calls LeaseHolder and fails t unless it reports want.
func holder(t *testing.T, s pixpool.Store, name, want string) {
	t.Helper()
	got, err := s.LeaseHolder(t.Context(), name)
	if err != nil || got != want {
		t.Fatalf("LeaseHolder(%q)=%q, %v, want %q", name, got, err, want)
	}
}

func testLease(t *testing.T, s pixpool.Store) {
	const long = time.Minute // outlasts the test
	holder(t, s, "manager", "")
	acquire(t, s, "manager", "a", long, true)
	holder(t, s, "manager", "a")
	acquire(t, s, "manager", "b", long, false)
	acquire(t, s, "manager", "a", long, true) // renews
	acquire(t, s, "manager", "b", long, false)

	// Another lease is independent of the first.
	acquire(t, s, "backup", "b", long, true)
	acquire(t, s, "backup", "a", long, false)
	acquire(t, s, "manager", "a", long, true)

	// Releasing what another holds, or what nobody holds, changes nothing.
	release(t, s, "manager", "b")
	release(t, s, "never", "b")
	acquire(t, s, "manager", "b", long, false)
	acquire(t, s, "manager", "a", long, true)

	// The holder's release frees it at once, and only it.
	release(t, s, "manager", "a")
	holder(t, s, "manager", "")
	acquire(t, s, "manager", "b", long, true)
	holder(t, s, "manager", "b")
	holder(t, s, "backup", "b")
	acquire(t, s, "manager", "a", long, false)
	acquire(t, s, "backup", "a", long, false)

	for _, ttl := range []time.Duration{0, -time.Second} {
		_, err := s.AcquireLease(t.Context(), "other", "a", ttl)
		wantCode(t, "AcquireLease(ttl="+ttl.String()+")", err, pixpool.EINVALID)
	}
}

func testLeaseExpiry(t *testing.T, s pixpool.Store) {
	const ttl = 100 * time.Millisecond
	start := time.Now()
	acquire(t, s, "expiring", "a", ttl, true)
	acquire(t, s, "renewed", "a", ttl, true)
	acquire(t, s, "gone", "a", ttl, true)
	// Once its term has run out, a lease still names its holder until taken.
	defer func() { sleepUntil(start.Add(ttl + 10*time.Millisecond)); holder(t, s, "gone", "a") }()
	firstTerm := time.Now().Add(ttl) // "renewed"'s first term ends before this
	acquire(t, s, "renewed", "a", time.Minute, true)

	// Once the term runs out, another takes the lease, not before.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := s.AcquireLease(t.Context(), "expiring", "b", time.Minute)
		if err != nil {
			t.Fatalf("AcquireLease(expiring, b)=%v", err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("AcquireLease(expiring, b)=false %v after a's term of %v began", time.Since(start), ttl)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A store may round the term down to the millisecond.
	if got := time.Since(start); got < ttl-time.Millisecond {
		t.Fatalf("b took the lease %v after a's term of %v began, want after it ended", got, ttl)
	}
	acquire(t, s, "expiring", "a", ttl, false)

	// Renewing set a new term: the first is over, and the lease still holds.
	sleepUntil(firstTerm.Add(10 * time.Millisecond))
	acquire(t, s, "renewed", "b", time.Minute, false)
	acquire(t, s, "renewed", "a", time.Minute, true)
}

func testLeaseConcurrent(t *testing.T, s pixpool.Store) {
	// race has n holders ask for the lease name at once and reports how
	// many got it.
	race := func(name string) int {
		t.Helper()
		const n = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			won   = make([]bool, n)
			errs  = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				won[i], errs[i] = s.AcquireLease(t.Context(), name, "racer-"+string(rune('a'+i)), time.Minute)
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("AcquireLease(%q, racer %d)=%v", name, i, errs[i])
			}
			if won[i] {
				winners++
			}
		}
		return winners
	}

	if got, want := race("free"), 1; got != want {
		t.Fatalf("racing for a free lease: %d won, want %d", got, want)
	}

	const ttl = 50 * time.Millisecond
	acquire(t, s, "expired", "old", ttl, true)
	sleepUntil(time.Now().Add(ttl + 10*time.Millisecond))
	if got, want := race("expired"), 1; got != want {
		t.Fatalf("racing for an expired lease: %d won, want %d", got, want)
	}
	acquire(t, s, "expired", "old", ttl, false)
}
