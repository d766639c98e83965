package imaging

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Edge cases: JPEGs built by hand, each run through the checker
// and image/jpeg. The checker may be "not sure" of anything, but it must
// not vouch for what image/jpeg refuses, and must never panic.

// jcomp is a frame component: its id and sampling factors.
type jcomp struct {
	id   byte
	h, v int
}

// jscan is one scan: the frame components' indexes it covers, and its
// entropy-coded data as bits (see packBits).
type jscan struct {
	comps  []int
	bits   string
	before []byte // raw bytes (segments) written before the scan's SOS
	sel    []byte // if set, the SOS's component selectors as they are
}

// multiJPEG builds a baseline JPEG of w×h with the given components and
// scans, every component using tinyJPEG's tables (DC: 00 is category 0;
// AC: 00 is EOB), so "0000" codes one empty block. ri, if not 0, is the
// restart interval. extra, if set, writes segments before the first scan.
func multiJPEG(w, h int, comps []jcomp, ri int, scans []jscan, extra func(seg func(m byte, body ...byte))) []byte {
	b := newJPEGBuilder()
	seg := b.seg
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(comps))}
	for _, c := range comps {
		sof = append(sof, c.id, byte(c.h<<4|c.v), 0)
	}
	seg(0xc0, sof...)
	dc := append([]byte{0x00, 0, 3}, make([]byte, 14)...)
	seg(0xc4, append(dc, 0, 1, 17)...)
	ac := append([]byte{0x10, 0, 3, 1, 1}, make([]byte, 12)...)
	seg(0xc4, append(ac, 0x00, 0xf0, 0x01, 0x10, 0xe1)...)
	if ri > 0 {
		seg(0xdd, byte(ri>>8), byte(ri))
	}
	if extra != nil {
		extra(seg)
	}
	for _, s := range scans {
		b.Write(s.before)
		sos := []byte{byte(len(s.comps))}
		for j, i := range s.comps {
			id := comps[i].id
			if s.sel != nil {
				id = s.sel[j]
			}
			sos = append(sos, id, 0x00)
		}
		seg(0xda, append(sos, 0, 63, 0)...)
		b.Write(packBits(s.bits))
	}
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}

// safeCheck runs checkJPEG, turning a panic into a test failure.
func safeCheck(t *testing.T, data []byte) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("checkJPEG panicked: %v", p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return checkJPEG(data)
}

// holdsPromise fails t if the checker vouches for data and image/jpeg
// refuses it, or if Check and Decode answer differently.
func holdsPromise(t *testing.T, data []byte) {
	t.Helper()
	cerr := safeCheck(t, data)
	derr := decodes(data)
	if cerr == nil && derr != nil {
		t.Errorf("checker vouched, image/jpeg refuses: %v", derr)
	}
	t.Logf("checker: %v; image/jpeg: %v", cerr, derr)
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("Decoder.Check panicked: %v", p)
			}
		}()
		dec := &Decoder{}
		ci, ce := dec.Check(context.Background(), data)
		di, de := dec.Decode(context.Background(), data)
		if !sameError(ce, de) {
			t.Errorf("Check: %v; Decode: %v", ce, de)
		}
		if de == nil && ci != di.Info {
			t.Errorf("Check info %+v; Decode info %+v", ci, di.Info)
		}
	}()
}

// blocks returns n empty blocks' bits.
func blocks(n int) string { return strings.Repeat("0000", n) }

// TestCheckJPEG_SamplingTotal: T.81 B.2.3 bounds an interleaved MCU to
// 10 data units and image/jpeg refuses more ("total sampling factors too
// large"); the checker must say "not sure", not index past its list.
func TestCheckJPEG_SamplingTotal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		comps []jcomp
		scan  []int
		units int
	}{
		{"2x2 2x2 2x2 (12 units)", []jcomp{{1, 2, 2}, {2, 2, 2}, {3, 2, 2}}, []int{0, 1, 2}, 12},
		{"4x2 2x1 2x1 (12 units)", []jcomp{{1, 4, 2}, {2, 2, 1}, {3, 2, 1}}, []int{0, 1, 2}, 12},
		{"4x2 2x2 2x2, Y and Cb (12 units)", []jcomp{{1, 4, 2}, {2, 2, 2}, {3, 2, 2}}, []int{0, 1}, 12},
		{"4x2 4x2 4x2 (24 units)", []jcomp{{1, 4, 2}, {2, 4, 2}, {3, 4, 2}}, []int{0, 1, 2}, 24},
		{"4x2 1x1 1x1 (10 units, allowed)", []jcomp{{1, 4, 2}, {2, 1, 1}, {3, 1, 1}}, []int{0, 1, 2}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := tc.comps[0]
			data := multiJPEG(8*y.h, 8*y.v, tc.comps, 0, []jscan{{comps: tc.scan, bits: blocks(tc.units)}}, nil)
			holdsPromise(t, data)
		})
	}
}

// TestCheckJPEG_Background: a background Decoder (analysis) refuses, with
// EINVALID, an image whose decoding needs more than half the Budget
// (Budget.AcquireSpare); Check must refuse it the same way, not vouch for
// it after reserving only checkCost.
func TestCheckJPEG_Background(t *testing.T) {
	b := encodeJPEG(t, testImage(1600, 1200), 75) // decoding takes about 2.9 MB
	d := &Decoder{Budget: &Budget{Bytes: 4 << 20}, Background: true}
	_, cerr := d.Check(context.Background(), b)
	_, derr := d.Decode(context.Background(), b)
	if derr == nil {
		t.Fatal("test setup: Decode took more than half the Budget")
	}
	if !sameError(cerr, derr) {
		t.Fatalf("Check: %v; Decode: %v", cerr, derr)
	}
}

// TestCheckJPEG_SmallBudget: with a Budget smaller than checkCost (or, in
// the background, than twice it), Decode takes a tiny JPEG; Check must too,
// not refuse it for the checker's own reservation.
func TestCheckJPEG_SmallBudget(t *testing.T) {
	b := encodeJPEG(t, testImage(8, 8), 75)
	for _, d := range []*Decoder{
		{Budget: &Budget{Bytes: 16 << 10}},
		{Budget: &Budget{Bytes: 48 << 10}, Background: true},
	} {
		_, cerr := d.Check(context.Background(), b)
		_, derr := d.Decode(context.Background(), b)
		if !sameError(cerr, derr) {
			t.Errorf("Background %v: Check: %v; Decode: %v", d.Background, cerr, derr)
		}
	}
}

// segment returns a marker segment's bytes.
func segment(m byte, body ...byte) []byte {
	return append([]byte{0xff, m, byte((len(body) + 2) >> 8), byte(len(body) + 2)}, body...)
}

// TestCheckJPEG_Edges: segments between scans, restart markers at the
// ends of scans, selectors, and the like.
func TestCheckJPEG_Edges(t *testing.T) {
	gray := []jcomp{{1, 1, 1}}
	yc := []jcomp{{1, 2, 2}, {2, 1, 1}, {3, 1, 1}}
	y21 := []jcomp{{1, 2, 1}, {2, 1, 1}, {3, 1, 1}}
	// A DC table where "1" is category 0 (and "0" category 1): one
	// empty block is "1"+"00" under it.
	dc1 := append([]byte{0x00, 2}, make([]byte, 15)...)
	dc1 = append(dc1, 1, 0)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"DRI set between scans", multiJPEG(16, 8, y21, 0, []jscan{
			{comps: []int{0}, bits: blocks(2)},
			{comps: []int{1}, bits: blocks(1) + "|0" + blocks(1), before: segment(0xdd, 0, 1)},
			{comps: []int{2}, bits: blocks(2)},
		}, nil)},
		{"DRI cleared between scans", multiJPEG(24, 8, gray, 1, []jscan{
			{comps: []int{0}, bits: blocks(1) + "|0" + blocks(1) + "|1" + blocks(1)},
			{comps: []int{0}, bits: blocks(3), before: segment(0xdd, 0, 0)},
		}, nil)},
		{"DRI changed, old interval's markers", multiJPEG(24, 8, gray, 1, []jscan{
			{comps: []int{0}, bits: blocks(1) + "|0" + blocks(1) + "|1" + blocks(1)},
			{comps: []int{0}, bits: blocks(1) + "|0" + blocks(1) + "|1" + blocks(1), before: segment(0xdd, 0, 2)},
		}, nil)},
		{"restart marker ending the scan", multiJPEG(16, 8, gray, 1, []jscan{
			{comps: []int{0}, bits: blocks(1) + "|0" + blocks(1) + "|1"},
		}, nil)},
		{"restart interval larger than the scan", multiJPEG(16, 8, gray, 5, []jscan{
			{comps: []int{0}, bits: blocks(2)},
		}, nil)},
		{"DHT redefined between scans", multiJPEG(16, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(2)},
			{comps: []int{0}, bits: "100" + "100", before: segment(0xc4, dc1...)},
		}, nil)},
		{"DHT redefined, old codes", multiJPEG(16, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(2)},
			{comps: []int{0}, bits: blocks(2), before: segment(0xc4, dc1...)},
		}, nil)},
		{"DQT after SOF and between scans", multiJPEG(16, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(2), before: segment(0xdb, append([]byte{0x10}, make([]byte, 128)...)...)},
			{comps: []int{0}, bits: blocks(2), before: segment(0xdb, append([]byte{0x03}, make([]byte, 64)...)...)},
		}, nil)},
		{"empty DHT and DQT segments", multiJPEG(8, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(1), before: append(segment(0xc4), segment(0xdb)...)},
		}, nil)},
		{"repeated selector", multiJPEG(16, 16, yc, 0, []jscan{
			{comps: []int{0, 1, 2}, bits: blocks(6), sel: []byte{1, 2, 2}},
		}, nil)},
		{"unknown selector", multiJPEG(16, 16, yc, 0, []jscan{
			{comps: []int{0, 1, 2}, bits: blocks(6), sel: []byte{1, 2, 9}},
		}, nil)},
		{"components scanned twice", multiJPEG(16, 16, yc, 0, []jscan{
			{comps: []int{0, 1, 2}, bits: blocks(6)},
			{comps: []int{1, 2}, bits: blocks(2)},
			{comps: []int{0}, bits: blocks(4)},
		}, nil)},
		{"chroma only interleaved", multiJPEG(32, 16, yc, 1, []jscan{
			{comps: []int{1, 2}, bits: blocks(2) + "|0" + blocks(2)},
		}, nil)},
		{"scan ending on a byte boundary", multiJPEG(16, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(2)},
		}, nil)},
		{"COM and APP between scans", multiJPEG(16, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(2)},
			{comps: []int{0}, bits: blocks(2), before: append(segment(0xfe, 'x'), segment(0xe1)...)},
		}, nil)},
		{"DNL after the scan", multiJPEG(16, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(2)},
			{comps: []int{0}, bits: blocks(2), before: segment(0xdc, 0, 8)},
		}, nil)},
		{"second SOI", multiJPEG(16, 8, gray, 0, []jscan{
			{comps: []int{0}, bits: blocks(2)},
			{comps: []int{0}, bits: blocks(2), before: []byte{0xff, 0xd8}},
		}, nil)},
		{"RGB by Adobe transform 0, 4:2:0", multiJPEG(16, 16, yc, 0, []jscan{
			{comps: []int{0, 1, 2}, bits: blocks(6)},
		}, func(seg func(m byte, body ...byte)) { seg(0xee, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0) })},
		{"RGB ids, 4:1:0", multiJPEG(32, 16, []jcomp{{'R', 4, 2}, {'G', 1, 1}, {'B', 1, 1}}, 0, []jscan{
			{comps: []int{0, 1, 2}, bits: blocks(10)},
		}, nil)},
		{"odd size, 4:2:0, non-interleaved", multiJPEG(17, 9, yc, 0, []jscan{
			{comps: []int{0}, bits: blocks(6)},
			{comps: []int{1}, bits: blocks(2)},
			{comps: []int{2}, bits: blocks(2)},
		}, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) { holdsPromise(t, tc.data) })
	}
}

// TestCheckJPEG_Allocs: what the checker allocates for one JPEG, whatever
// its size, stays within the checkCost that Check reserves for it.
func TestCheckJPEG_Allocs(t *testing.T) {
	for name, b := range map[string][]byte{
		"upload-like": uploadLikeJPEG(t, 928, 696),
		"4:1:0":       multiJPEG(32, 16, []jcomp{{1, 4, 2}, {2, 1, 1}, {3, 1, 1}}, 0, []jscan{{comps: []int{0, 1, 2}, bits: blocks(10)}}, nil),
	} {
		if err := checkJPEG(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		const runs = 20
		for range runs {
			checkJPEG(b)
		}
		runtime.ReadMemStats(&after)
		per := (after.TotalAlloc - before.TotalAlloc) / runs
		t.Logf("%s: %d bytes a check", name, per)
		if per > checkCost {
			t.Errorf("%s: the checker allocates %d bytes, more than the %d reserved", name, per, checkCost)
		}
	}
}

// TestCheckJPEG_RandomStreams builds structurally sound JPEGs with random
// frames (sizes, sampling factors, 1 or 3 components), random Huffman
// tables (prefix codes of random lengths over random symbols, undefined and
// progressive-only symbols included), random restart intervals and scans,
// and random entropy-coded bits, and holds the checker to its promise on
// each. Random bits rarely decode, so the scans are also built from the
// tables' own codes, mostly valid.
func TestCheckJPEG_RandomStreams(t *testing.T) {
	iters, seed := 5000, uint64(12)
	if testing.Short() {
		iters = 1000
	}
	// JPEGCHECK_ITERS and JPEGCHECK_SEED run it longer, or elsewhere.
	if n, err := strconv.Atoi(os.Getenv("JPEGCHECK_ITERS")); err == nil {
		iters = n
	}
	if n, err := strconv.ParseUint(os.Getenv("JPEGCHECK_SEED"), 10, 64); err == nil {
		seed = n
	}
	rng := rand.New(rand.NewPCG(seed, 34))
	vouched := 0
	for it := range iters {
		data := randomJPEG(rng)
		cerr := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("iteration %d: checkJPEG panicked: %v\n%q", it, p, data)
				}
			}()
			return checkJPEG(data)
		}()
		if cerr != nil {
			continue
		}
		vouched++
		if derr := decodes(data); derr != nil {
			t.Fatalf("iteration %d: checker vouched, image/jpeg refuses: %v\n%q", it, derr, data)
		}
	}
	t.Logf("the checker vouched for %d of %d", vouched, iters)
	if vouched < iters/20 {
		t.Errorf("the checker vouched for only %d of %d: the generator makes too few valid files", vouched, iters)
	}
}

// randTable is a random Huffman table: its 16 counts and symbols, and
// the codes (as bit strings) of each symbol.
type randTable struct {
	counts [16]byte
	syms   []byte
	codes  map[byte]string
}

func randomTable(rng *rand.Rand, ac bool) randTable {
	var t randTable
	t.codes = map[byte]string{}
	n := 1 + rng.IntN(20)
	if rng.IntN(10) == 0 {
		n = 1 + rng.IntN(256)
	}
	// Symbols: mostly useful ones, some unusual.
	used := map[byte]bool{}
	for len(t.syms) < n {
		var s byte
		switch {
		case !ac && rng.IntN(8) > 0:
			s = byte(rng.IntN(17))
		case !ac:
			s = byte(rng.IntN(256))
		case len(t.syms) == 0:
			s = 0x00 // EOB
		case rng.IntN(8) > 0:
			s = byte(rng.IntN(16))<<4 | byte(1+rng.IntN(15))
		default:
			s = byte(rng.IntN(256))
		}
		if !used[s] {
			used[s] = true
			t.syms = append(t.syms, s)
		}
		if len(used) == 256 {
			break
		}
	}
	// Lengths: a canonical prefix code, some of it possibly complete
	// (with the all-ones code), sometimes over-full (not a prefix code).
	code, l := 0, 1
	for i := range t.syms {
		for {
			if l > 16 {
				t.syms = t.syms[:i]
				goto done
			}
			if rng.IntN(3) == 0 && code < 1<<l || rng.IntN(100) == 0 {
				break
			}
			code <<= 1
			l++
		}
		t.counts[l-1]++
		c := ""
		for b := l - 1; b >= 0; b-- {
			c += string(byte('0' + code>>b&1))
		}
		t.codes[t.syms[i]] = c
		code++
	}
done:
	if len(t.syms) == 0 {
		t.counts[0], t.syms = 1, []byte{0}
		t.codes[0] = "0"
	}
	return t
}

func (t randTable) segment(class, th byte) []byte {
	body := append([]byte{class<<4 | th}, t.counts[:]...)
	return segment(0xc4, append(body, t.syms...)...)
}

// randomBlock returns the bits of one block coded with dc and ac, mostly
// valid.
func randomBlock(rng *rand.Rand, dc, ac randTable) string {
	pick := func(t randTable) (byte, string) {
		s := t.syms[rng.IntN(len(t.syms))]
		return s, t.codes[s]
	}
	value := func(size int) string {
		b := ""
		for range size {
			b += string(byte('0' + rng.IntN(2)))
		}
		return b
	}
	s, c := pick(dc)
	bits := c + value(int(s)&31)
	for k := 1; k < 64 && rng.IntN(12) > 0; {
		s, c := pick(ac)
		bits += c + value(int(s&15))
		if s == 0 {
			return bits
		}
		k += int(s>>4) + 1
	}
	if c, ok := ac.codes[0]; ok && rng.IntN(10) > 0 {
		bits += c
	}
	return bits
}

func randomJPEG(rng *rand.Rand) []byte {
	fs := [3]int{1, 2, 4}
	var comps []jcomp
	if rng.IntN(3) == 0 {
		comps = []jcomp{{1, fs[rng.IntN(3)], fs[rng.IntN(3)]}}
	} else {
		y := jcomp{1, fs[rng.IntN(3)], fs[rng.IntN(2)]}
		ch := jcomp{2, fs[rng.IntN(3)], fs[rng.IntN(2)]}
		if rng.IntN(4) > 0 {
			ch.h, ch.v = 1, 1
		}
		comps = []jcomp{y, ch, {3, ch.h, ch.v}}
	}
	w, h := 1+rng.IntN(40), 1+rng.IntN(40)
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xd8})
	b.Write(segment(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...))
	sofm := byte(0xc0)
	if rng.IntN(4) == 0 {
		sofm = 0xc1
	}
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(comps))}
	for _, c := range comps {
		sof = append(sof, c.id, byte(c.h<<4|c.v), 0)
	}
	b.Write(segment(sofm, sof...))
	ri := 0
	nscans := 1 + rng.IntN(3)
	for range nscans {
		dc, ac := randomTable(rng, false), randomTable(rng, true)
		th := byte(rng.IntN(2))
		b.Write(dc.segment(0, th))
		b.Write(ac.segment(1, th))
		if rng.IntN(3) == 0 {
			ri = rng.IntN(4)
			b.Write(segment(0xdd, 0, byte(ri)))
		}
		// Which components: all (interleaved) or one.
		var sc []int
		if len(comps) == 1 || rng.IntN(2) == 0 {
			for i := range comps {
				sc = append(sc, i)
			}
		} else {
			sc = []int{rng.IntN(3)}
		}
		if len(sc) > 1 && rng.IntN(4) == 0 {
			sc = sc[:2]
		}
		sos := []byte{byte(len(sc))}
		for _, i := range sc {
			sos = append(sos, comps[i].id, th<<4|th)
		}
		b.Write(segment(0xda, append(sos, 0, 63, 0)...))
		// Data units, as T.81 counts them.
		y := comps[0]
		if len(comps) == 1 {
			y.h, y.v = 1, 1
		}
		mx, my := (w+8*y.h-1)/(8*y.h), (h+8*y.v-1)/(8*y.v)
		units, per := mx*my, 0
		if len(sc) == 1 && len(comps) > 1 {
			c := comps[sc[0]]
			cw, ch := (w*c.h+y.h-1)/y.h, (h*c.v+y.v-1)/y.v
			units, per = ((cw+7)/8)*((ch+7)/8), 1
		} else if len(sc) == 1 {
			per = 1
		} else {
			for _, i := range sc {
				per += comps[i].h * comps[i].v
			}
		}
		units += rng.IntN(2) * (rng.IntN(3) - 1) // sometimes one too many or few
		bits, rst := "", 0
		for u := range units {
			for range per {
				bits += randomBlock(rng, dc, ac)
			}
			if ri > 0 && (u+1)%ri == 0 && u+1 < units {
				bits += "|" + string(byte('0'+rst%8))
				rst++
			}
		}
		if rng.IntN(50) == 0 {
			bits += "|" + string(byte('0'+rst%8))
		}
		b.Write(packBits(bits))
	}
	b.Write([]byte{0xff, 0xd9})
	return b.Bytes()
}
