package service

import (
	"context"
	"image/color"
	"sync"
	"testing"

	"github.com/pixpool/pixpool"
)

// usageHook is a store whose Usage runs after, if set, once it has read.
type usageHook struct {
	pixpool.Store
	mu    sync.Mutex
	after func()
}

func (h *usageHook) Usage(ctx context.Context, ownerID int64) (pixpool.Usage, error) {
	u, err := h.Store.Usage(ctx, ownerID)
	h.mu.Lock()
	after := h.after
	h.after = nil
	h.mu.Unlock()
	if after != nil {
		after()
	}
	return u, err
}

// TestImages_QuotaReservationOrder: an upload that committed and released
// its reservation between another's reading of Usage (before the commit)
// and of the reservations must still be counted by the latter. With a
// quota of one image, b is checked first and stored while c is checked;
// c must be refused.
func TestImages_QuotaReservationOrder(t *testing.T) {
	f := open(t, t.TempDir())
	ctx := t.Context()
	f.withPolicy(t, pixpool.Policy{QuotaImages: 1, TrashDays: 30})
	hook := &usageHook{Store: f.store}
	f.images.Store = hook
	data := pngOf(t, 8, 8, color.White)

	bAtCommit, cReadUsage, bDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	f.images.beforeCommit = func() error {
		once.Do(func() { // b's: wait for c to have read Usage
			close(bAtCommit)
			<-cReadUsage
		})
		return nil
	}
	go func() {
		_, err := f.images.Put(ctx, f.owner, "b", data)
		bDone <- err
	}()
	<-bAtCommit
	hook.mu.Lock()
	hook.after = func() { // c's: b commits and releases now
		close(cReadUsage)
		if err := <-bDone; err != nil {
			t.Errorf("Put(b)=%v", err)
		}
	}
	hook.mu.Unlock()
	_, err := f.images.Put(ctx, f.owner, "c", data)
	if pixpool.ErrorCode(err) != pixpool.EQUOTA {
		n, _ := f.store.CountImages(ctx, pixpool.ImageFilter{OwnerID: f.owner})
		t.Fatalf("Put(c)=%v with %d images stored under a quota of 1; want EQUOTA", err, n)
	}
}
