package main

import (
	"slices"
	"testing"

	"github.com/pixpool/pixpool"
)

func TestVariantSizesFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []pixpool.VariantSize
		ok   bool
	}{
		{"320,1200x630", []pixpool.VariantSize{{Width: 320}, {Width: 1200, Height: 630}}, true},
		{" 640 , ", []pixpool.VariantSize{{Width: 640}}, true},
		{"", []pixpool.VariantSize{}, true},
		{"0", nil, false}, {"5000", nil, false}, {"12x", nil, false}, {"big", nil, false},
	} {
		var c Config
		fs := newFlagSet()
		c.flags(fs)
		err := fs.Parse([]string{"--variant-sizes", tt.in})
		if (err == nil) != tt.ok || err == nil && !slices.Equal(c.VariantSizes, tt.want) {
			t.Errorf("--variant-sizes %q: %v, %v; want %v (ok %v)", tt.in, c.VariantSizes, err, tt.want, tt.ok)
		}
	}
	var c Config
	fs := newFlagSet()
	c.flags(fs)
	t.Setenv("PIXPOOL_VARIANT_SIZES", "100,200")
	if err := parseFlags(fs, nil); err != nil || !slices.Equal(c.VariantSizes, []pixpool.VariantSize{{Width: 100}, {Width: 200}}) {
		t.Fatalf("PIXPOOL_VARIANT_SIZES=100,200: %v, %v", c.VariantSizes, err)
	}
	c = Config{}
	fs = newFlagSet()
	c.flags(fs)
	t.Setenv("PIXPOOL_VARIANT_SIZES", "")
	if fs.Parse(nil); !slices.Equal(c.VariantSizes, pixpool.DefaultVariantSizes) {
		t.Fatalf("default %v, want %v", c.VariantSizes, pixpool.DefaultVariantSizes)
	}
}
