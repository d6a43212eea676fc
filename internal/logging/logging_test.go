package logging

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactSIP(t *testing.T) {
	t.Parallel()
	msg := "REGISTER sip:x SIP/2.0\r\nAuthorization: Digest username=\"anna\", response=\"deadbeef\"\r\n" +
		"proxy-authorization : Digest response=\"cafe\"\r\nTo: <sip:anna@x>\r\n\r\n"
	got := RedactSIP(msg)
	for _, secret := range []string{"deadbeef", "cafe"} {
		if strings.Contains(got, secret) {
			t.Fatalf("secret %q survived: %q", secret, got)
		}
	}
	if !strings.Contains(got, "To: <sip:anna@x>\r\n") || !strings.HasPrefix(got, "REGISTER sip:x SIP/2.0\r\n") {
		t.Fatalf("other lines changed: %q", got)
	}
	if plain := "INVITE sip:x SIP/2.0\r\n"; RedactSIP(plain) != plain {
		t.Fatal("message without credentials changed")
	}
}

func TestSlogBridgeRedactsAndKeepsLevels(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	zl, err := New(&buf, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	l := Slog(zl).With("tx", "abc")
	l.Error("failed to parse", "data", "Authorization: Digest response=\"secret1\"\r\n")
	l.Info("connection chatter")
	out := buf.String()
	if strings.Contains(out, "secret1") {
		t.Fatalf("secret logged: %s", out)
	}
	if !strings.Contains(out, `"level":"error"`) || !strings.Contains(out, `"level":"debug"`) || !strings.Contains(out, `"tx":"abc"`) {
		t.Fatalf("levels or attrs lost: %s", out)
	}
	if _, err := New(&buf, "xml", "info"); err == nil {
		t.Fatal("bad format accepted")
	}
	if _, err := New(&buf, "json", "loud"); err == nil {
		t.Fatal("bad level accepted")
	}
}
