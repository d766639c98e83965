package onnx

import "github.com/ebitengine/purego"

// mMmapThreshold is glibc's M_MMAP_THRESHOLD parameter of mallopt.
const mMmapThreshold = -3

// returnLargeBlocks makes glibc's malloc serve every block of 128 KiB or
// more, ONNX Runtime's tensors, with mmap, so that freeing one returns it
// to the system. By default glibc raises that threshold to the size of
// each large block freed, up to 32 MiB, after which such blocks come from
// its heap and stay with the process when freed: each image read then left
// the resident size higher (BenchmarkScene in recognize/text: a peak of
// 290-330 MB settling at 210-250 MB between images, against 160-165 MB and
// 70 MB with the fixed threshold, in the same time). Go allocates nothing
// with malloc, so only ONNX Runtime is affected. Best effort: a C library
// without mallopt (not glibc) is left as it is.
func returnLargeBlocks() {
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return
	}
	sym, err := purego.Dlsym(libc, "mallopt")
	if err != nil {
		return
	}
	var mallopt func(param, value int32) int32
	purego.RegisterFunc(&mallopt, sym)
	mallopt(mMmapThreshold, 128<<10)
}
