// Command uploadbench helps scripts/bench-uploads.sh measure uploads:
//
//	uploadbench jpeg OUT [BYTES]  writes a JPEG of about BYTES (default 100 KB)
//	uploadbench disk [flags] DIR   writes files as the blob store does, to
//	                               show what the disk itself allows
//
// disk runs -writers goroutines for -d, each writing -size bytes to a
// temporary file, fsyncing it, renaming it into DIR/<shard>/ and fsyncing
// that folder, as blob/fs.Store.Put does for every upload; it prints the
// operations per second and the p50 and p99 of one operation.
package main

import (
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "jpeg":
		err = runJPEG(os.Args[2:])
	case "disk":
		err = runDisk(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "uploadbench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: uploadbench jpeg OUT [BYTES] | uploadbench disk [-writers N] [-size BYTES] [-d DURATION] DIR")
	os.Exit(2)
}

// runJPEG writes a photo-like JPEG (smooth gradients with some noise) whose
// size is close to the one asked for, by growing its side.
func runJPEG(args []string) error {
	if len(args) < 1 {
		usage()
	}
	want := 100 << 10
	if len(args) > 1 {
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		want = n
	}
	var best []byte
	for side := 64; side <= 4096; side += 16 {
		b := encode(side, side*3/4)
		if best == nil || abs(len(b)-want) < abs(len(best)-want) {
			best = b
		}
		if len(b) > want {
			break
		}
	}
	return os.WriteFile(args[0], best, 0o644)
}

func encode(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	noise := make([]byte, w*h)
	rand.Read(noise)
	for y := range h {
		for x := range w {
			n := noise[y*w+x] / 24
			img.Set(x, y, color.RGBA{uint8(x*255/w) + n, uint8(y*255/h) + n, uint8((x+y)*127/(w+h)) + n, 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	return buf.Bytes()
}

func abs(n int) int { return max(n, -n) }

func runDisk(args []string) error {
	fs := flag.NewFlagSet("disk", flag.ExitOnError)
	writers := fs.Int("writers", 8, "concurrent writers")
	size := fs.Int("size", 100<<10, "bytes a file")
	d := fs.Duration("d", 5*time.Second, "how long to write")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	dir := fs.Arg(0)
	tmp := filepath.Join(dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	data := make([]byte, *size)
	rand.Read(data)
	var (
		mu    sync.Mutex
		lats  []time.Duration
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(*d)
	for w := range *writers {
		wg.Go(func() {
			var mine []time.Duration
			for i := 0; time.Now().Before(deadline); i++ {
				t := time.Now()
				name := fmt.Sprintf("%02x/w%d-%d", (w*7919+i)%256, w, i)
				if err := put(tmp, filepath.Join(dir, name), data); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if first != nil {
		return first
	}
	slices.Sort(lats)
	pct := func(p int) time.Duration {
		if len(lats) == 0 {
			return 0
		}
		return lats[min(len(lats)-1, len(lats)*p/100)]
	}
	fmt.Printf("disk: %d writes in %.2fs: %.0f/s p50 %.2fms p99 %.2fms\n", len(lats), elapsed.Seconds(),
		float64(len(lats))/elapsed.Seconds(), ms(pct(50)), ms(pct(99)))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// put is blob/fs's Put: temporary file, fsync, rename, fsync of the folder.
func put(tmp, dst string, data []byte) error {
	f, err := os.CreateTemp(tmp, "put-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
