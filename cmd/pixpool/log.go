package main

import (
	"io"
	"log/slog"
)

// discardLogger keeps the admin tools' output to what they print.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
