package callback

import (
	"testing"
	"time"
)

func TestDaySlots(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		hours     Hours
		length    time.Duration
		day       time.Time
		wantCount int
		wantFirst time.Time
		wantLast  time.Time
	}{
		{
			name: "office day, default length", hours: officeHours, day: at(15, 0),
			wantCount: 12 + 16, wantFirst: at(9, 0), wantLast: at(16, 45),
		},
		{
			name: "50 minute slots drop what does not fit", hours: officeHours, length: 50 * time.Minute, day: at(0, 0),
			// 09:00, 09:50, 10:40 (11:30 would end 12:20); 13:00..16:20 (4).
			wantCount: 3 + 4, wantFirst: at(9, 0), wantLast: at(15, 30),
		},
		{name: "closed on Sunday", hours: officeHours, day: day0.AddDate(0, 0, 4), wantCount: 0},
		{
			name: "overlapping ranges do not repeat slots",
			hours: HoursFunc(func(_ string, day time.Time) []TimeRange {
				return []TimeRange{{at(9, 0), at(10, 0)}, {at(9, 30), at(10, 0)}}
			}),
			day: at(0, 0), wantCount: 4, wantFirst: at(9, 0), wantLast: at(9, 45),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := TeamSlots{TeamID: "berlin", Location: berlin, SlotLength: tt.length}.withDefaults()
			got := daySlots(tt.hours, ts, tt.day)
			if len(got) != tt.wantCount {
				t.Fatalf("got %d slots, want %d: %v", len(got), tt.wantCount, got)
			}
			if tt.wantCount == 0 {
				return
			}
			if !got[0].Start.Equal(tt.wantFirst) || !got[len(got)-1].Start.Equal(tt.wantLast) {
				t.Errorf("first %v last %v, want %v and %v", got[0].Start, got[len(got)-1].Start, tt.wantFirst, tt.wantLast)
			}
			for _, s := range got {
				if s.End.Sub(s.Start) != ts.SlotLength {
					t.Errorf("slot %v-%v is not %v long", s.Start, s.End, ts.SlotLength)
				}
			}
		})
	}
}

func TestSlotsBetweenAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	// Berlin moves to summer time on Sunday 2026-03-29; Saturday and Monday
	// are open.
	ts := TeamSlots{TeamID: "berlin", Location: berlin}.withDefaults()
	from := time.Date(2026, 3, 28, 0, 0, 0, 0, berlin)
	to := time.Date(2026, 3, 31, 0, 0, 0, 0, berlin)
	got := slotsBetween(officeHours, ts, from, to)
	if len(got) != 2*28 {
		t.Fatalf("got %d slots, want %d", len(got), 2*28)
	}
	mon := got[28].Start.In(berlin)
	if mon.Day() != 30 || mon.Hour() != 9 || mon.Minute() != 0 {
		t.Errorf("first Monday slot at %v, want 09:00 on the 30th", mon)
	}
	// A window starting mid-morning cuts the earlier slots.
	if n := len(slotsBetween(officeHours, ts, from.Add(10*time.Hour+time.Minute), to)); n != 2*28-5 {
		t.Errorf("from 10:01: got %d slots, want %d", n, 2*28-5)
	}
}

func TestNextOpen(t *testing.T) {
	t.Parallel()
	ts := TeamSlots{TeamID: "berlin", Location: berlin}.withDefaults()
	tests := []struct {
		name string
		at   time.Time
		want time.Time
	}{
		{"open now", at(10, 0), at(10, 0)},
		{"lunch", at(12, 30), at(13, 0)},
		{"evening", at(18, 0), at(9, 0).AddDate(0, 0, 1)},
		{"Saturday evening skips Sunday", at(18, 0).AddDate(0, 0, 3), at(9, 0).AddDate(0, 0, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := nextOpen(officeHours, ts, tt.at, DefaultHorizon); !got.Equal(tt.want) {
				t.Errorf("nextOpen(%v) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
	closed := HoursFunc(func(string, time.Time) []TimeRange { return nil })
	if got := nextOpen(closed, ts, at(10, 0), 48*time.Hour); !got.Equal(at(10, 0)) {
		t.Errorf("never open: nextOpen = %v, want the time itself", got)
	}
}

func TestSlotFree(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ capacity, booked, want int }{{3, 1, 2}, {3, 3, 0}, {2, 3, 0}} {
		if got := (Slot{Capacity: tt.capacity, Booked: tt.booked}).Free(); got != tt.want {
			t.Errorf("Free(capacity %d, booked %d) = %d, want %d", tt.capacity, tt.booked, got, tt.want)
		}
	}
}
