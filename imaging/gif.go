package imaging

import (
	"errors"
	"io"
)

// checkGIF walks a GIF's blocks, without decoding them, up to the trailer
// that ends the file. gif.Decode reads only the first frame, so without this
// an animation cut short after it would pass as whole.
func checkGIF(b []byte) error {
	const header = 6 + 7 // "GIF89a", logical screen descriptor
	if len(b) < header {
		return io.ErrUnexpectedEOF
	}
	p := header + colorTableLen(b[10])
	for {
		if p >= len(b) {
			return io.ErrUnexpectedEOF
		}
		switch b[p] {
		case 0x21: // extension: label, then data sub-blocks
			p = skipSubBlocks(b, p+2)
		case 0x2c: // image descriptor, local color table, LZW code size, data
			p += 10
			if p > len(b) {
				return io.ErrUnexpectedEOF
			}
			p += colorTableLen(b[p-1]) + 1
			p = skipSubBlocks(b, p)
		case 0x3b: // trailer
			return nil
		default:
			return errors.New("gif: unknown block")
		}
		if p < 0 {
			return io.ErrUnexpectedEOF
		}
	}
}

// colorTableLen returns the length of the color table that a descriptor's
// packed flags announce.
func colorTableLen(flags byte) int {
	if flags&0x80 == 0 {
		return 0
	}
	return 3 << (flags&0x07 + 1)
}

// skipSubBlocks returns the offset after the data sub-blocks starting at p,
// or -1 if they run past the end of b.
func skipSubBlocks(b []byte, p int) int {
	for p < len(b) {
		n := int(b[p])
		p++
		if n == 0 {
			return p
		}
		p += n
	}
	return -1
}
