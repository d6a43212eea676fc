package phone

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		raw    string
		region string
		want   string
		err    error
	}{
		{name: "e164", raw: "+4930123456", region: "DE", want: "+4930123456"},
		{name: "national", raw: "030 123456", region: "DE", want: "+4930123456"},
		{name: "idd", raw: "004930123456", region: "DE", want: "+4930123456"},
		{name: "tel uri", raw: "tel:+49-30-123456", region: "DE", want: "+4930123456"},
		{name: "tel uri params", raw: "tel:+49-30-123456;npdi", region: "DE", want: "+4930123456"},
		{name: "sip user part", raw: "sip:+4930123456@carrier.example;user=phone", region: "DE", want: "+4930123456"},
		{name: "user part with params", raw: "+4930123456;cpc=ordinary", region: "DE", want: "+4930123456"},
		{name: "separators", raw: " +49 (0)30 / 12-34.56 ", region: "DE", want: "+4930123456"},
		{name: "other country from DE", raw: "+1 202-555-0143", region: "DE", want: "+12025550143"},
		{name: "national in US", raw: "(202) 555-0143", region: "US", want: "+12025550143"},
		{name: "mobile", raw: "0151 23456789", region: "DE", want: "+4915123456789"},
		{name: "empty", raw: "", region: "DE", err: ErrWithheld},
		{name: "blank", raw: "  ", region: "DE", err: ErrWithheld},
		{name: "anonymous", raw: "anonymous", region: "DE", err: ErrWithheld},
		{name: "Anonymous sip", raw: "sip:Anonymous@anonymous.invalid", region: "DE", err: ErrWithheld},
		{name: "unknown", raw: "unknown", region: "DE", err: ErrWithheld},
		{name: "restricted", raw: "RESTRICTED", region: "DE", err: ErrWithheld},
		{name: "letters", raw: "hello", region: "DE", err: ErrInvalid},
		{name: "too short", raw: "+4912", region: "DE", err: ErrInvalid},
		{name: "local only", raw: "123", region: "DE", err: ErrInvalid},
		{name: "too long", raw: "+49301234567890123", region: "DE", err: ErrInvalid},
		{name: "bad country code", raw: "+999123456", region: "DE", err: ErrInvalid},
		{name: "national without region", raw: "030 123456", region: "", err: ErrInvalid},
		{name: "bare idd", raw: "0049", region: "DE", err: ErrInvalid},
		{name: "zeros do not round-trip", raw: "000 0000", region: "DE", err: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tt.raw, tt.region)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Normalize(%q, %q) = %q, %v; want error %v", tt.raw, tt.region, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q, %q): %v", tt.raw, tt.region, err)
			}
			if got != tt.want {
				t.Fatalf("Normalize(%q, %q) = %q, want %q", tt.raw, tt.region, got, tt.want)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+4930123456", "030 123456", "tel:+49-30-123456", "sip:+49@x", "anonymous", ";phone-context=+49"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := Normalize(raw, "DE")
		if err != nil {
			if !errors.Is(err, ErrWithheld) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Normalize(%q): unexpected error kind %v", raw, err)
			}
			return
		}
		again, err := Normalize(got, "DE")
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q, not stable: %q, %v", raw, got, again, err)
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	inputs := []struct{ name, raw string }{
		{"e164", "+4930123456"},
		{"national", "030 123456"},
		{"tel", "tel:+49-30-123456"},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(in.raw, "DE"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
