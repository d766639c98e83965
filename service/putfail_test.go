package service

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"testing"

	"github.com/pixpool/pixpool"
)

// committedButFailing commits PutImage, then fails, as the SQLite store
// does when syncing its log fails after the commit.
type committedButFailing struct{ pixpool.Store }

func (s committedButFailing) PutImage(ctx context.Context, img *pixpool.Image) (*pixpool.Image, error) {
	if _, err := s.Store.PutImage(ctx, img); err != nil {
		return nil, err
	}
	return nil, errors.New("committed, but the sync failed")
}

// A put that fails after its row was committed keeps the bytes the row
// names: the image reads back whole, it is never a row without bytes.
func TestImages_PutFailsAfterCommit(t *testing.T) {
	ctx := context.Background()
	f := open(t, t.TempDir())
	f.images.Store = committedButFailing{f.store}
	data := pngOf(t, 20, 10, color.White)
	if _, err := f.images.Put(ctx, f.owner, "k", data); err == nil {
		t.Fatal("Put succeeded")
	}
	f.images.Store = f.store
	_, got, err := f.images.Get(ctx, f.owner, "k")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after a put that failed after its commit: %v", err)
	}
}
