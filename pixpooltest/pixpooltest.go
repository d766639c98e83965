// Package pixpooltest builds pixpool's embedded stores and services for
// tests: a real SQLite database and blob folder in the test's temp dir,
// quiet logs, and cheap password hashing. It also makes test images.
package pixpooltest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/pixpool/pixpool"
	blobfs "github.com/pixpool/pixpool/blob/fs"
	"github.com/pixpool/pixpool/password"
	"github.com/pixpool/pixpool/service"
	"github.com/pixpool/pixpool/store/sqlite"
)

// Env is a fresh set of stores and the services over them.
type Env struct {
	Store    *sqlite.Store
	Blobs    *blobfs.Store
	Accounts *service.Accounts
	Images   *service.Images
	Logger   *slog.Logger
}

// CheapPasswords hashes fast, for tests only.
var CheapPasswords = password.Params{Memory: 1024, Time: 1, Threads: 1}

// LooseThrottle lets tests, whose clients all come from 127.0.0.1, sign
// up and fail logins freely; tests of pacing set their own limits.
var LooseThrottle = service.Throttle{
	Pair:    pixpool.AttemptLimit{Free: 1000, Delay: time.Second, MaxDelay: time.Second, Forget: time.Hour},
	Account: pixpool.AttemptLimit{Free: 1000, Delay: time.Second, MaxDelay: time.Second, Forget: time.Hour},
	Client:  pixpool.AttemptLimit{Free: 1000, Delay: time.Second, MaxDelay: time.Second, Forget: time.Hour},
	Signup:  pixpool.AttemptLimit{Free: 1000, Delay: time.Second, MaxDelay: time.Second, Forget: time.Hour},
}

// New opens an Env in tb's temp dir and closes it when tb ends, after the
// images' background work.
func New(tb testing.TB) *Env {
	tb.Helper()
	store, err := sqlite.Open(filepath.Join(tb.TempDir(), "pixpool.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	blobs, err := blobfs.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	e := &Env{
		Store:    store,
		Blobs:    blobs,
		Accounts: &service.Accounts{Store: store, Logger: quiet, Password: CheapPasswords, Throttle: LooseThrottle},
		Images:   &service.Images{Store: store, Blobs: blobs, Policies: &service.Policies{Store: store}, Logger: quiet},
		Logger:   quiet,
	}
	tb.Cleanup(e.Images.Wait) // runs first: thumbnails finish before the folders go
	return e
}

// PNG returns a w×h PNG of a gradient; seed tells images apart.
func PNG(tb testing.TB, w, h int, seed uint8) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*4) + seed, uint8(y * 4), seed, 255})
		}
	}
	return encode(tb, img)
}

// NoisyPNG returns a w×h PNG of opaque noise, which does not compress:
// about 4 bytes a pixel.
func NoisyPNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Uint32())
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return encode(tb, img)
}

func encode(tb testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
