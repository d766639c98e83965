//go:build !linux

package onnx

// loadTrim: trimming is glibc's; elsewhere the C library's own policy stands.
func loadTrim() {}

// ReleaseMemory does nothing outside Linux's glibc.
func (rt *Runtime) ReleaseMemory() {}
