package imaging

import (
	"encoding/binary"
)

// This file checks a JPEG without making its pixels: it reads the marker
// segments and entropy-decodes every scan, as ITU-T T.81 describes, but
// never dequantizes, transforms or converts colour. It answers only
// "valid" or "not sure".
//
// "Valid" must mean that image/jpeg decodes the file without error, since
// the upload path then skips that decoding. So the checker takes only the
// files it understands with certainty: baseline and extended sequential
// Huffman frames of 8-bit samples with 1 or 3 components, in the layouts
// image/jpeg takes, every segment where it belongs, markers not padded with
// fill bytes, no bytes between segments, restart markers exactly where and
// in the order they must be. Anything else, and anything image/jpeg would
// refuse, is "not sure": the caller decodes the file in full with
// image/jpeg, which gives the verdict and the error. Where image/jpeg is more
// lenient than the specification (it skips stray bytes between segments,
// looks for lost restart markers, reads undefined AC symbols as end-of-band
// runs, ends a block early on a run past its 64th coefficient) the checker
// is strict and says "not sure"; where it is stricter (it limits a DC
// difference's category to 16, wants tables' and components' numbers in
// its ranges, only some sampling factors) the checker refuses the same.
//
// The differential fuzz test FuzzJPEGCheck holds it to this: whatever the
// input, "valid" implies that jpeg.Decode succeeds.

// notSure says why the checker does not vouch for a file. The reasons are
// for tests and debugging; callers only learn that they must decode.
type notSure string

func (e notSure) Error() string { return "jpegcheck: not sure: " + string(e) }

// JPEG markers (T.81 table B.1) that the checker handles.
const (
	mSOF0 = 0xc0 // baseline sequential, Huffman
	mSOF1 = 0xc1 // extended sequential, Huffman
	mDHT  = 0xc4
	mRST0 = 0xd0
	mRST7 = 0xd7
	mSOI  = 0xd8
	mEOI  = 0xd9
	mSOS  = 0xda
	mDQT  = 0xdb
	mDRI  = 0xdd
	mAPP0 = 0xe0
	mAPPF = 0xef
	mCOM  = 0xfe
)

// peekBits is how many leading bits of the bit buffer index a Huffman
// table's lookup array: codes at most this long are found in one look.
const peekBits = 10

// A step says what one Huffman code and the value bits after it do, so
// that a coefficient costs one look: bits 0-5 are the bits to skip (the
// code's and the value's, up to 32), bits 6-10 the coefficients covered
// (AC), and
// stepEOB ends the block. 0 means "look slowly": the code is longer than
// peekBits, undefined, or its symbol one the checker does not take.
const stepEOB = 1 << 15

// stepOf returns the step of a code of length l for symbol s of a DC
// (ac false) or AC table.
func stepOf(ac bool, l int, s byte) uint16 {
	if !ac {
		if s > 16 {
			return 0 // image/jpeg refuses DC categories above 16
		}
		return uint16(l + int(s))
	}
	run, size := int(s>>4), int(s&15)
	switch {
	case size != 0:
		return uint16(l+size) | uint16(run+1)<<6
	case run == 15: // ZRL: sixteen zeros
		return uint16(l) | 16<<6
	case run == 0: // EOB
		return uint16(l) | stepEOB
	}
	return 0 // EOBn: progressive only, though image/jpeg reads it anyway
}

// huffCode is a Huffman table (T.81 annex C) ready for decoding.
type huffCode struct {
	defined bool
	ac      bool
	// step[i], for the next peekBits bits i, is the step of the code
	// they start with, or 0 (see stepEOB).
	step [1 << peekBits]uint16
	// Canonical decoding, for the rest: the codes of length l are
	// first[l] .. first[l]+count[l]-1, their symbols from index[l] on.
	first, count, index [17]int32
	symbols             [256]byte
}

// setup builds the table from a DHT's 16 counts and its symbols. It
// refuses counts that are not a prefix code (more codes of a length than
// the shorter ones leave room for): T.81 cannot make them, and image/jpeg
// reads them in its own way.
func (h *huffCode) setup(ac bool, counts []byte, symbols []byte) bool {
	*h = huffCode{defined: true, ac: ac}
	copy(h.symbols[:], symbols)
	code, idx := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.first[l], h.count[l], h.index[l] = code, n, idx
		code += n
		if code > 1<<l {
			return false
		}
		if l <= peekBits {
			for c := h.first[l]; c < code; c++ {
				v := stepOf(ac, l, h.symbols[idx+c-h.first[l]])
				lo := c << (peekBits - l)
				for k := int32(0); k < 1<<(peekBits-l); k++ {
					h.step[lo+k] = v
				}
			}
		}
		idx += n
		code <<= 1
	}
	return true
}

// slowStep decodes the code at the top of peek (the next 16 bits, most
// significant first) bit length by bit length and returns its step; 0 if
// no code fits or the checker does not take its symbol.
func (h *huffCode) slowStep(peek uint64) uint16 {
	for l := 1; l <= 16; l++ {
		c := int32(peek >> (16 - l))
		if c >= h.first[l] && c-h.first[l] < h.count[l] {
			return stepOf(h.ac, l, h.symbols[h.index[l]+c-h.first[l]])
		}
	}
	return 0
}

// bitReader reads the entropy-coded data of a scan (T.81 F.1.2.3): 0xFF
// 0x00 stands for a 0xFF data byte, and any other byte after 0xFF is a
// marker, where the data ends.
type bitReader struct {
	b   []byte
	p   int    // next byte of b to load
	acc uint64 // the next n bits, from the top
	n   uint   // valid bits in acc
	end bool   // p is at a marker or the end of b: nothing more to load
}

// hasFF reports whether any byte of w is 0xFF.
func hasFF(w uint64) bool {
	x := ^w // bytes 0xFF become zero
	return (x-0x0101010101010101)&^x&0x8080808080808080 != 0
}

// fill loads bytes until at least 57 bits are held or the data ends. Eight
// bytes without 0xFF are loaded at once; the bits of a partly loaded byte
// below the n valid ones are that byte's own, so loading it again later
// changes nothing.
func (r *bitReader) fill() {
	for r.n <= 56 && !r.end {
		if r.p+8 <= len(r.b) {
			w := binary.BigEndian.Uint64(r.b[r.p:])
			if !hasFF(w) {
				k := (64 - r.n) >> 3
				r.acc |= w >> r.n
				r.p += int(k)
				r.n += 8 * k
				continue
			}
		}
		if r.p >= len(r.b) {
			r.end = true
			return
		}
		c := r.b[r.p]
		if c == 0xff {
			if r.p+1 >= len(r.b) || r.b[r.p+1] != 0 {
				r.end = true
				return
			}
			r.p++
		}
		r.p++
		r.acc |= uint64(c) << (56 - r.n)
		r.n += 8
	}
}

// frameComp is a component of the frame.
type frameComp struct {
	id   byte
	h, v int
}

// jpegChecker holds what the segments read so far defined.
type jpegChecker struct {
	b        []byte
	baseline bool // the last SOF was SOF0: tables 0 and 1 only
	frame    bool // a SOF was read
	scanned  bool // a scan was read
	width    int
	height   int
	comps    []frameComp
	ri       int // restart interval, in MCUs; 0 if none
	dc, ac   [4]huffCode
}

// checkJPEG returns nil if image/jpeg certainly decodes b without error,
// else why the checker is not sure.
func checkJPEG(b []byte) error {
	c := &jpegChecker{b: b}
	return c.run()
}

func (c *jpegChecker) run() error {
	b := c.b
	if len(b) < 4 || b[0] != 0xff || b[1] != mSOI {
		return notSure("no SOI marker")
	}
	p := 2
	for {
		if p+2 > len(b) {
			return notSure("ends without EOI")
		}
		if b[p] != 0xff {
			return notSure("bytes between segments")
		}
		m := b[p+1]
		p += 2
		if m == mEOI {
			if !c.scanned {
				return notSure("no scan")
			}
			return nil // image/jpeg reads nothing after EOI
		}
		if p+2 > len(b) {
			return notSure("truncated segment length")
		}
		n := int(binary.BigEndian.Uint16(b[p:]))
		if n < 2 || p+n > len(b) {
			return notSure("bad or truncated segment length")
		}
		seg := b[p+2 : p+n]
		p += n
		var err error
		switch {
		case m == mSOF0 || m == mSOF1:
			c.baseline = m == mSOF0
			err = c.sof(seg)
		case m == mDHT:
			err = c.dht(seg)
		case m == mDQT:
			err = c.dqt(seg)
		case m == mDRI:
			if len(seg) != 2 {
				return notSure("DRI length")
			}
			c.ri = int(binary.BigEndian.Uint16(seg))
		case m == mSOS:
			p, err = c.sos(seg, p)
		case mAPP0 <= m && m <= mAPPF, m == mCOM:
			// Application data and comments: skipped. image/jpeg reads
			// JFIF and Adobe segments for colour only; it refuses none.
		default:
			// Other frame types, DNL, DAC, fill bytes, stray RST, ...
			return notSure("marker not handled")
		}
		if err != nil {
			return err
		}
	}
}

// sof reads a frame header (T.81 B.2.2), accepting what image/jpeg takes
// with 1 or 3 components.
func (c *jpegChecker) sof(s []byte) error {
	if c.frame {
		return notSure("second SOF")
	}
	c.frame = true
	if len(s) != 6+3*1 && len(s) != 6+3*3 || int(s[5])*3+6 != len(s) {
		return notSure("component count")
	}
	if s[0] != 8 {
		return notSure("precision")
	}
	c.height = int(binary.BigEndian.Uint16(s[1:]))
	c.width = int(binary.BigEndian.Uint16(s[3:]))
	if c.width == 0 || c.height == 0 {
		return notSure("empty frame") // and DNL is not handled
	}
	nc := int(s[5])
	c.comps = make([]frameComp, nc)
	for i := range c.comps {
		f := s[6+3*i:]
		id, h, v, tq := f[0], int(f[1]>>4), int(f[1]&15), f[2]
		for _, o := range c.comps[:i] {
			if o.id == id {
				return notSure("repeated component")
			}
		}
		if tq > 3 {
			return notSure("quantization table number")
		}
		if h != 1 && h != 2 && h != 4 || v != 1 && v != 2 && v != 4 {
			return notSure("sampling factors")
		}
		if nc == 1 {
			// One component is non-interleaved: its factors mean
			// nothing (T.81 A.2).
			h, v = 1, 1
		}
		if nc == 3 {
			switch i {
			case 0:
				if v == 4 {
					return notSure("luma sampling")
				}
			case 1:
				y := c.comps[0]
				if y.h%h != 0 || y.v%v != 0 {
					return notSure("chroma sampling")
				}
			case 2:
				if cb := c.comps[1]; cb.h != h || cb.v != v {
					return notSure("chroma sampling differs")
				}
			}
		}
		c.comps[i] = frameComp{id: id, h: h, v: v}
	}
	return nil
}

// dht reads Huffman tables (T.81 B.2.4.2).
func (c *jpegChecker) dht(s []byte) error {
	for len(s) > 0 {
		if len(s) < 17 {
			return notSure("DHT length")
		}
		class, th := s[0]>>4, s[0]&15
		if class > 1 || th > 3 || c.baseline && th > 1 {
			return notSure("DHT table class or number")
		}
		total := 0
		for _, n := range s[1:17] {
			total += int(n)
		}
		if total == 0 || total > 256 || len(s) < 17+total {
			return notSure("DHT counts")
		}
		t := &c.dc[th]
		if class == 1 {
			t = &c.ac[th]
		}
		if !t.setup(class == 1, s[1:17], s[17:17+total]) {
			t.defined = false
			return notSure("DHT is not a prefix code")
		}
		s = s[17+total:]
	}
	return nil
}

// dqt reads quantization tables (T.81 B.2.4.1); only their shape matters.
func (c *jpegChecker) dqt(s []byte) error {
	for len(s) > 0 {
		pq, tq := s[0]>>4, s[0]&15
		size := 1 + 64
		if pq == 1 {
			size = 1 + 128
		}
		if pq > 1 || tq > 3 || len(s) < size {
			return notSure("DQT")
		}
		s = s[size:]
	}
	return nil
}

// scanComp is a component of a scan, with its tables.
type scanComp struct {
	h, v   int
	dc, ac *huffCode
}

// sos reads a scan header (T.81 B.2.3) and the scan's entropy-coded data
// that starts at b[p], and returns where the data ends: at the marker
// after it.
func (c *jpegChecker) sos(s []byte, p int) (int, error) {
	if !c.frame {
		return p, notSure("SOS before SOF")
	}
	if len(s) < 4 || len(s) != 4+2*int(s[0]) || int(s[0]) > len(c.comps) || s[0] == 0 {
		return p, notSure("SOS length")
	}
	ns := int(s[0])
	var comps [3]scanComp
	var seen [3]bool
	for i := range ns {
		sel, tables := s[1+2*i], s[2+2*i]
		ci := -1
		for j, fc := range c.comps {
			if fc.id == sel {
				ci = j
			}
		}
		if ci < 0 || seen[ci] {
			return p, notSure("scan component selector")
		}
		seen[ci] = true
		td, ta := tables>>4, tables&15
		if td > 3 || ta > 3 || c.baseline && (td > 1 || ta > 1) {
			return p, notSure("scan table number")
		}
		if !c.dc[td].defined || !c.ac[ta].defined {
			return p, notSure("undefined Huffman table")
		}
		fc := c.comps[ci]
		comps[i] = scanComp{h: fc.h, v: fc.v, dc: &c.dc[td], ac: &c.ac[ta]}
	}
	// Sequential scans: image/jpeg ignores Ss, Se, Ah and Al.

	y := c.comps[0] // largest factors in every layout accepted
	mcuX := (c.width + 8*y.h - 1) / (8 * y.h)
	mcuY := (c.height + 8*y.v - 1) / (8 * y.v)
	r := &bitReader{b: c.b, p: p}
	var units, perMCU int // MCUs in the scan, data units in one
	var list [10]*scanComp
	if ns == 1 {
		// Non-interleaved (T.81 A.2.2): one data unit an MCU, covering
		// the component's own size. image/jpeg walks such a scan by the
		// frame's MCUs and counts restarts by them; take only the scans
		// where that and the standard agree.
		sc := &comps[0]
		cw := (c.width*sc.h + y.h - 1) / y.h
		chh := (c.height*sc.v + y.v - 1) / y.v
		bw, bh := (cw+7)/8, (chh+7)/8
		if bw != min(mcuX*sc.h, (c.width+7)/8) || bh != min(mcuY*sc.v, (c.height+7)/8) {
			return p, notSure("non-interleaved scan size")
		}
		if sc.h*sc.v != 1 && c.ri > 0 {
			return p, notSure("non-interleaved scan of a subsampled frame")
		}
		units, perMCU = bw*bh, 1
		list[0] = sc
	} else {
		// T.81 B.2.3: at most 10 data units an MCU; image/jpeg refuses
		// more ("total sampling factors too large").
		total := 0
		for i := range ns {
			total += comps[i].h * comps[i].v
		}
		if total > len(list) {
			return p, notSure("more than 10 data units an MCU")
		}
		units = mcuX * mcuY
		for i := range ns {
			for range comps[i].h * comps[i].v {
				list[perMCU] = &comps[i]
				perMCU++
			}
		}
	}
	rst := byte(mRST0)
	for mcu := 0; mcu < units; mcu++ {
		for _, sc := range list[:perMCU] {
			if err := r.block(sc); err != nil {
				return p, err
			}
		}
		if c.ri > 0 && (mcu+1)%c.ri == 0 && mcu+1 < units {
			// T.81 F.1.2.3: the data is padded to a byte, then the next
			// restart marker, modulo 8.
			if r.n >= 8 || r.p+1 >= len(r.b) || r.b[r.p] != 0xff || r.b[r.p+1] != rst {
				return p, notSure("restart marker")
			}
			r.p += 2
			r.acc, r.n, r.end = 0, 0, false
			rst = mRST0 + (rst-mRST0+1)&7
		}
	}
	// The scan ends where its last byte of data does: a marker must follow
	// at once (image/jpeg would skip other bytes).
	if r.n >= 8 || r.p+1 >= len(r.b) || r.b[r.p] != 0xff {
		return p, notSure("scan does not end at a marker")
	}
	if m := r.b[r.p+1]; m == 0 || m == 0xff || mRST0 <= m && m <= mRST7 {
		return p, notSure("scan ends at an unexpected marker")
	}
	c.scanned = true
	return r.p, nil
}

// block entropy-decodes one data unit (T.81 F.2.2): a DC difference and up
// to 63 AC coefficients, skipping the values' bits.
func (r *bitReader) block(sc *scanComp) error {
	if r.n < 32 {
		r.fill()
	}
	e := sc.dc.step[r.acc>>(64-peekBits)]
	if e == 0 {
		if e = sc.dc.slowStep(r.acc >> 48); e == 0 {
			return notSure("bad DC code or category")
		}
	}
	if t := uint(e & 63); t <= r.n {
		r.acc <<= t
		r.n -= t
	} else {
		return notSure("data ends in a DC coefficient")
	}
	ac := sc.ac
	for k := 1; k < 64; {
		if r.n < 32 {
			r.fill()
		}
		e := ac.step[r.acc>>(64-peekBits)]
		if e == 0 {
			if e = ac.slowStep(r.acc >> 48); e == 0 {
				return notSure("bad AC code or end-of-band run")
			}
		}
		t := uint(e & 63)
		if t > r.n {
			return notSure("data ends in an AC coefficient")
		}
		r.acc <<= t
		r.n -= t
		if e&stepEOB != 0 {
			break
		}
		// A run past the 64th coefficient: image/jpeg ends the block
		// quietly (and skips no value bits); the standard forbids it.
		if k += int(e >> 6 & 31); k > 64 {
			return notSure("coefficients past the block")
		}
	}
	return nil
}
