package store

import (
	"slices"
	"testing"
	"testing/fstest"
)

func TestParseMigrations(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name     string
		files    fstest.MapFS
		versions []int
		wantErr  bool
	}{
		{
			name: "sorted by number, not name",
			files: fstest.MapFS{
				"m/0010_ten.sql": file("select 10"),
				"m/0002_two.sql": file("select 2"),
				"m/0001_one.sql": file("select 1"),
				"m/README.md":    file("not a migration"),
			},
			versions: []int{1, 2, 10},
		},
		{name: "duplicate version", files: fstest.MapFS{"m/0001_a.sql": file(""), "m/1_b.sql": file("")}, wantErr: true},
		{name: "no number", files: fstest.MapFS{"m/init.sql": file("")}, wantErr: true},
		{name: "zero", files: fstest.MapFS{"m/0000_zero.sql": file("")}, wantErr: true},
		{name: "no name", files: fstest.MapFS{"m/0001_.sql": file("")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, err := parseMigrations(tt.files, "m")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseMigrations: got %v, want an error", ms)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseMigrations: %v", err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.version)
			}
			if !slices.Equal(got, tt.versions) {
				t.Errorf("versions = %v, want %v", got, tt.versions)
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	t.Parallel()
	ms, err := migrations()
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("embedded migrations start at %v, want version 1", ms)
	}
	for i, m := range ms {
		if m.sql == "" {
			t.Errorf("migration %04d_%s is empty", m.version, m.name)
		}
		if i > 0 && m.version <= ms[i-1].version {
			t.Errorf("migration %d after %d", m.version, ms[i-1].version)
		}
	}
}
