//go:build !linux

package onnx

// tuneMalloc: glibc's; elsewhere the C library's own policy stands.
func tuneMalloc() {}

// ReleaseMemory does nothing outside Linux's glibc.
func (rt *Runtime) ReleaseMemory() {}
