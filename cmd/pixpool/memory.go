package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/pixpool/pixpool/imaging"
)

// decodeMemory is --decode-memory's default for a machine (or container)
// of total bytes (0 if unknown) and a process memory limit set by
// GOMEMLIMIT (0 if none): imaging.DefaultBudget, or a quarter of the
// memory, or the limit less memoryLimitMargin, if less; but at least 256
// MiB, room for one color image of the default pixel limit.
func decodeMemory(total, limit int64) int64 {
	b := int64(imaging.DefaultBudget)
	if total > 0 {
		b = min(b, total/4)
	}
	if limit > 0 {
		b = min(b, limit-memoryLimitMargin)
	}
	return max(b, 256<<20)
}

// goMemLimit returns the limit GOMEMLIMIT sets, or 0.
func goMemLimit() int64 {
	if os.Getenv("GOMEMLIMIT") == "" {
		return 0
	}
	return debug.SetMemoryLimit(-1)
}

// memoryLimitMargin is the room GOMEMLIMIT leaves above the decode budget
// for everything else serve holds: request bodies, cached reads, SQLite.
const memoryLimitMargin = 512 << 20

// setMemoryLimit sets Go's soft memory limit, unless GOMEMLIMIT does, to
// the decode budget plus a margin: the garbage collector then works
// harder as the heap nears it, rather than letting it grow to twice what
// is live, and the runtime gives freed memory back to the system sooner.
// It is soft: a heap that needs more still gets it.
func setMemoryLimit(budget int64, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info("memory limit from GOMEMLIMIT", "bytes", debug.SetMemoryLimit(-1), "decode_memory", budget)
		return
	}
	limit := budget + memoryLimitMargin
	debug.SetMemoryLimit(limit)
	log.Info("memory limit", "gomemlimit", limit, "decode_memory", budget)
}

// serveGCPercent is the garbage collector's GOGC for serve, unless GOGC
// sets it. Every read holds a whole image (a cache value, the file's
// bytes) for a moment, so a busy server allocates hundreds of megabytes a
// second while little stays live; at the default of 100 the collector ran
// every few dozen requests and took a fifth of the CPU of a cache hit. At
// 400 the heap may grow to five times what is live between collections,
// still under the soft memory limit (setMemoryLimit), which makes the
// collector work harder as the heap nears it.
const serveGCPercent = 400

// setGCPercent sets serveGCPercent unless GOGC is set.
func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}
