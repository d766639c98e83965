package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// bombPNG returns a w×h PNG of 16-bit RGBA samples, all zero: a few
// hundred KB that image/png would decode to 8 bytes a pixel.
func bombPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	row := make([]byte, 1+8*w)
	for range h {
		zw.Write(row)
	}
	zw.Close()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(kind)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(kind), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	chunk("IHDR", append(ihdr, 16, 6, 0, 0, 0))
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// Decompression bombs uploaded at once each either succeed or get 503
// with Retry-After (the decode budget has room for one at a time), while
// a normal GET keeps answering 200; a bomb over --max-pixels gets 400.
func TestServe_DecodeBombs(t *testing.T) {
	s := startServer(t, Config{DecodeMemory: 100 << 20, MaxPixels: 20_000_000, CacheSize: 0})
	c := &client{t: t, base: s.url, key: newUser(t, s, "ada", false)}
	var small bytes.Buffer
	png.Encode(&small, image.NewGray(image.Rect(0, 0, 16, 16)))
	expect(t, c.do("PUT", keyPath("small.png"), bytes.NewReader(small.Bytes())), 201)

	// 4000×4000: 64 MB decoded to 8 bits (128 MB at 16), 100 KB of file.
	bomb := bombPNG(t, 4000, 4000)
	const n = 4
	statuses := make([]int, n)
	retry := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("PUT", s.url+keyPath("bomb"+string(rune('a'+i))), bytes.NewReader(bomb))
			req.Header.Set("Authorization", "Bearer "+c.key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i], retry[i] = resp.StatusCode, resp.Header.Get("Retry-After")
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	gets := 0
	for busy := true; busy; gets++ {
		select {
		case <-done:
			busy = false
		default:
		}
		expect(t, c.do("GET", keyPath("small.png"), nil), 200)
		time.Sleep(10 * time.Millisecond) // bounded load
	}
	ok := 0
	for i, st := range statuses {
		switch {
		case st == 201:
			ok++
		case st == 503 && retry[i] != "":
		default:
			t.Errorf("bomb %d: status %d, Retry-After %q; want 201, or 503 with Retry-After", i, st, retry[i])
		}
	}
	if ok == 0 {
		t.Errorf("no bomb was stored: %v", statuses)
	}
	t.Logf("bombs: %v; %d normal GETs answered 200 meanwhile", statuses, gets)

	big := bombPNG(t, 5000, 5000) // 25 million pixels
	b := expect(t, c.do("PUT", keyPath("big"), bytes.NewReader(big)), 400)
	if _, msg := apiError(t, b); !strings.Contains(msg, "at most 20 million") {
		t.Fatalf("message %q", msg)
	}
}

func TestDecodeMemory(t *testing.T) {
	for _, tc := range []struct {
		total, limit, want int64
	}{
		{0, 0, 768 << 20},              // unknown: the default
		{64 << 30, 0, 768 << 20},       // a big machine: the default
		{2 << 30, 0, 512 << 20},        // a quarter
		{512 << 20, 0, 256 << 20},      // never under 256 MiB
		{64 << 30, 1 << 30, 512 << 20}, // GOMEMLIMIT less the margin
		{64 << 30, 8 << 30, 768 << 20}, // a high GOMEMLIMIT: the default
	} {
		if got := decodeMemory(tc.total, tc.limit); got != tc.want {
			t.Errorf("decodeMemory(%d, %d)=%d, want %d", tc.total, tc.limit, got, tc.want)
		}
	}
}

func TestParseFlags_Memory(t *testing.T) {
	t.Setenv("PIXPOOL_DECODE_MEMORY", "1GiB")
	t.Setenv("PIXPOOL_MAX_PIXELS", "50000000")
	var c Config
	fs := newFlagSet()
	c.flags(fs)
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if c.DecodeMemory != 1<<30 || c.MaxPixels != 50_000_000 {
		t.Fatalf("DecodeMemory=%d MaxPixels=%d", c.DecodeMemory, c.MaxPixels)
	}
}
