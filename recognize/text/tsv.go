package text

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"image"
	"slices"
	"strconv"
	"strings"
)

// lineKey identifies a line in Tesseract's TSV output.
type lineKey struct{ page, block, par, line int }

// parseTSV groups the word rows (level 5) of Tesseract's TSV output into
// lines, in the order of their page, block, paragraph and line numbers.
// The columns are: level page_num block_num par_num line_num word_num left
// top width height conf text.
func parseTSV(out []byte) ([]Line, error) {
	type acc struct {
		key   lineKey
		words []string
		conf  float64
		box   image.Rectangle
	}
	var order []*acc
	byKey := map[lineKey]*acc{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 12 || f[0] != "5" {
			continue // header, structure rows, or a word-less row
		}
		word := strings.TrimSpace(strings.Join(f[11:], "\t"))
		if word == "" {
			continue
		}
		var v [9]int
		for i := range v {
			x, err := strconv.Atoi(f[1+i])
			if err != nil {
				return nil, fmt.Errorf("text: tesseract tsv line %d: column %d: %w", n, 2+i, err)
			}
			v[i] = x
		}
		conf, err := strconv.ParseFloat(f[10], 64)
		if err != nil {
			return nil, fmt.Errorf("text: tesseract tsv line %d: confidence: %w", n, err)
		}
		if conf < 0 {
			conf = 0
		}
		k := lineKey{v[0], v[1], v[2], v[3]}
		box := image.Rect(v[5], v[6], v[5]+v[7], v[6]+v[8])
		a := byKey[k]
		if a == nil {
			a = &acc{key: k, box: box}
			byKey[k] = a
			order = append(order, a)
		}
		a.words = append(a.words, word)
		a.conf += conf
		a.box = a.box.Union(box)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("text: read tesseract tsv: %w", err)
	}
	// Tesseract writes lines in order already; sorting by the numbers keeps
	// that promise even if it ever does not.
	slices.SortStableFunc(order, func(a, b *acc) int { return compareKeys(a.key, b.key) })
	lines := make([]Line, 0, len(order))
	for _, a := range order {
		lines = append(lines, Line{
			Text:       strings.Join(a.words, " "),
			Confidence: a.conf / float64(len(a.words)),
			Box:        a.box,
		})
	}
	return lines, nil
}

func compareKeys(a, b lineKey) int {
	return cmp.Or(
		cmp.Compare(a.page, b.page),
		cmp.Compare(a.block, b.block),
		cmp.Compare(a.par, b.par),
		cmp.Compare(a.line, b.line),
	)
}
