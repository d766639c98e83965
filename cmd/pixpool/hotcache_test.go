package main

import "testing"

func TestHotCacheFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"0MiB", 0, true}, {"64MiB", 64 << 20, true}, {"1024", 1024, true},
		{"-1", 0, false}, {"lots", 0, false}, {"", 0, false},
	} {
		var c Config
		fs := newFlagSet()
		c.flags(fs)
		err := fs.Parse([]string{"--hot-cache", tt.in})
		if (err == nil) != tt.ok || err == nil && c.HotCache != tt.want {
			t.Errorf("--hot-cache %q: %d, %v; want %d (ok %v)", tt.in, c.HotCache, err, tt.want, tt.ok)
		}
	}
	var c Config
	fs := newFlagSet()
	c.flags(fs)
	if fs.Parse(nil); c.HotCache != DefaultHotCache {
		t.Errorf("default %d, want %d", c.HotCache, DefaultHotCache)
	}
}
