package acme

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapLogger returns a zap logger, the kind certmagic logs through, that
// writes to h, so that its lines come out as pixpool's others do. zap's
// levels map onto slog's (debug, info, warn; error and worse are error),
// its logger name becomes the attribute "logger", and its fields become
// attributes.
func zapLogger(h slog.Handler) *zap.Logger {
	return zap.New(&slogCore{h: h})
}

// slogCore is a zapcore.Core over a slog.Handler.
type slogCore struct {
	h     slog.Handler
	attrs []slog.Attr // from With, added to every record
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h, attrs: append(c.attrs[:len(c.attrs):len(c.attrs)], attrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	level := slogLevel(e.Level)
	if level > slog.LevelDebug && canceled(fields) {
		// Work cut short by a shutdown is no failure.
		level = slog.LevelDebug
		if !c.h.Enabled(context.Background(), level) {
			return nil
		}
	}
	r := slog.NewRecord(e.Time, level, e.Message, 0)
	// Named loggers under an unnamed root are ".name".
	if name := strings.TrimPrefix(e.LoggerName, "."); name != "" {
		r.AddAttrs(slog.String("logger", name))
	}
	r.AddAttrs(c.attrs...)
	r.AddAttrs(attrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

// canceled reports whether an error among fields is a context's
// cancellation.
func canceled(fields []zapcore.Field) bool {
	for _, f := range fields {
		if err, ok := f.Interface.(error); ok && f.Type == zapcore.ErrorType && errors.Is(err, context.Canceled) {
			return true
		}
	}
	return false
}

// attrs converts zap fields to slog attributes, through zap's own map
// encoder so that every field type is handled as zap would.
func attrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	out := make([]slog.Attr, 0, len(fields))
	for _, f := range fields {
		switch f.Type {
		case zapcore.ErrorType:
			if err, ok := f.Interface.(error); ok && err != nil {
				out = append(out, slog.String(f.Key, err.Error()))
				continue
			}
		case zapcore.DurationType:
			out = append(out, slog.Duration(f.Key, time.Duration(f.Integer)))
			continue
		}
		f.AddTo(enc)
		if v, ok := enc.Fields[f.Key]; ok {
			out = append(out, slog.Any(f.Key, v))
			delete(enc.Fields, f.Key)
		}
	}
	return out
}
