//go:build !linux

package onnx

// returnLargeBlocks is glibc-specific; elsewhere the C library's own
// policy stands.
func returnLargeBlocks() {}
