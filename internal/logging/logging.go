// Package logging builds Teamline's zerolog logger and bridges libraries that
// log through log/slog (sipgo) into it, so every line has one format.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// New returns a logger writing to w in the given format ("console" or
// "json") at the given level ("debug", "info", "warn", "error").
func New(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want console or json", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// Stderr is New writing to standard error.
func Stderr(format, level string) (zerolog.Logger, error) { return New(os.Stderr, format, level) }

// Slog returns a *slog.Logger whose records go to zl. Library debug output is
// kept at debug level so it only shows when asked for.
func Slog(zl zerolog.Logger) *slog.Logger {
	return slog.New(&slogHandler{zl: zl})
}

type slogHandler struct {
	zl     zerolog.Logger
	prefix string
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.zl.GetLevel() <= zlevel(l)
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	ev := h.zl.WithLevel(zlevel(r.Level))
	if ev == nil {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(ev, h.prefix, a)
		return true
	})
	ev.Msg(r.Message)
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	ctx := h.zl.With()
	for _, a := range attrs {
		ctx = ctx.Interface(h.prefix+a.Key, a.Value.Resolve().Any())
	}
	return &slogHandler{zl: ctx.Logger(), prefix: h.prefix}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &slogHandler{zl: h.zl, prefix: h.prefix + name + "."}
}

func addAttr(ev *zerolog.Event, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	key := prefix + a.Key
	switch v.Kind() {
	case slog.KindString:
		ev.Str(key, RedactSIP(v.String()))
	case slog.KindInt64:
		ev.Int64(key, v.Int64())
	case slog.KindBool:
		ev.Bool(key, v.Bool())
	case slog.KindDuration:
		ev.Dur(key, v.Duration())
	case slog.KindGroup:
		for _, g := range v.Group() {
			addAttr(ev, key+".", g)
		}
	default:
		if err, ok := v.Any().(error); ok {
			ev.AnErr(key, err)
			return
		}
		if s, ok := v.Any().(fmt.Stringer); ok {
			ev.Str(key, RedactSIP(s.String()))
			return
		}
		ev.Interface(key, v.Any())
	}
}

// RedactSIP blanks the values of credential headers (Authorization,
// Proxy-Authorization) in a SIP message that a library logs whole, so a
// digest response never reaches a log file.
func RedactSIP(s string) string {
	if !strings.Contains(s, "uthorization") {
		return s
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n := strings.ToLower(strings.TrimSpace(name))
		if n == "authorization" || n == "proxy-authorization" {
			end := ""
			if strings.HasSuffix(l, "\r\n") {
				end = "\r\n"
			} else if strings.HasSuffix(l, "\n") {
				end = "\n"
			}
			lines[i] = name + ": [redacted]" + end
		}
	}
	return strings.Join(lines, "")
}

// zlevel maps slog levels to zerolog's. sipgo's Info lines (connection
// chatter) are demoted to debug: operators care about calls, not sockets.
func zlevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	default:
		return zerolog.DebugLevel
	}
}
