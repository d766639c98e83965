package onnx

import "github.com/ebitengine/purego"

// mallocTrim is glibc's malloc_trim, or nil with another C library.
var mallocTrim func(pad uintptr) int32

// mArenaMax is glibc's M_ARENA_MAX parameter of mallopt.
const mArenaMax = -8

// tuneMalloc finds malloc_trim in the C library and bounds glibc's malloc
// arenas to 2. glibc gives each thread that allocates an arena of its own;
// ONNX Runtime's threads (a session with several, as pixpool analyze runs
// the detector) then each kept their peak: pixpool analyze of a page peaked
// at 384 MB resident, 275-286 MB with 1 or 2 arenas, in the same time.
// Go allocates nothing with malloc, so only ONNX Runtime is affected. Best
// effort: another C library is left as it is.
func tuneMalloc() {
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return
	}
	if sym, err := purego.Dlsym(libc, "malloc_trim"); err == nil && sym != 0 {
		purego.RegisterFunc(&mallocTrim, sym)
	}
	if sym, err := purego.Dlsym(libc, "mallopt"); err == nil && sym != 0 {
		var mallopt func(param, value int32) int32
		purego.RegisterFunc(&mallopt, sym)
		mallopt(mArenaMax, 2)
	}
}

// ReleaseMemory gives the memory ONNX Runtime freed back to the system
// (glibc's malloc_trim). Call it once the work on an image is done.
//
// ONNX Runtime allocates each run's tensors with malloc (pixpool turns its
// arena off), and glibc keeps large freed blocks in its heap for reuse:
// without trimming, the resident size crept up image after image
// (BenchmarkScene in recognize/text: peaks of 290-330 MB settling at
// 210-250 MB between images). Making every large block an mmap instead
// (mallopt's M_MMAP_THRESHOLD) gave the memory back too, but each run on a
// shape the session had not seen before then took 3-5 times as long (every
// tensor a fresh mapping to fault in), and with line widths that differ
// from line to line most runs are such runs. Trimming once per image keeps
// the runs fast and the memory returned, for a few milliseconds.
func (rt *Runtime) ReleaseMemory() {
	if mallocTrim != nil {
		mallocTrim(0)
	}
}
