package ctconf

import (
	"strings"
	"testing"
)

func TestParseIDMap(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  IDMap
		text  string
	}{
		{"u 0 100000 65536", IDMap{Kind: 'u', Inside: 0, Host: 100000, N: 65536}, "u 0 100000 65536"},
		{"  g\t1000  1000 1 ", IDMap{Kind: 'g', Inside: 1000, Host: 1000, N: 1}, "g 1000 1000 1"},
		{"u 4294967294 0 1", IDMap{Kind: 'u', Inside: 4294967294, Host: 0, N: 1}, "u 4294967294 0 1"},
	} {
		m, err := ParseIDMap(tt.value)
		if err != nil || m != tt.want {
			t.Errorf("%q: %+v, %v; want %+v", tt.value, m, err, tt.want)
			continue
		}
		if m.String() != tt.text {
			t.Errorf("%q printed as %q, want %q", tt.value, m.String(), tt.text)
		}
		if back, err := ParseIDMap(m.String()); err != nil || back != m {
			t.Errorf("round trip of %q: %+v, %v", m.String(), back, err)
		}
	}
	for value, want := range map[string]string{
		"":                     "expected u or g",
		"b 0 100000 65536":     "expected u or g",
		"uu 0 100000 65536":    "expected u or g",
		"u 0 100000":           "expected u or g",
		"u 0 100000 65536 1":   "expected u or g",
		"u -1 100000 65536":    `the first id inside, "-1", is not a number`,
		"u 0 x 65536":          `the first id on the host, "x", is not a number`,
		"u 0 100000 0":         "the count must be at least 1",
		"u 4294967295 0 1":     "runs past the largest id",
		"g 0 4294967000 65536": "runs past the largest id",
	} {
		if _, err := ParseIDMap(value); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", value, err, want)
		}
	}
}

func TestIDMaps(t *testing.T) {
	def := DefaultIDMap()
	if err := def.Check(); err != nil {
		t.Fatalf("the default map fails its own check: %v", err)
	}
	// A map that passes one user and group through, as is common for a
	// shared directory: 1000 inside is 1000 on the host.
	ms, err := ParseIDMaps([]string{
		"u 0 100000 1000", "g 0 100000 1000", "u 1000 1000 1", "g 1000 1000 1",
		"u 1001 101001 64535", "g 1001 101001 64535",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		maps   IDMaps
		gid    bool
		inside int
		host   int
		ok     bool
	}{
		{def, false, 0, 100000, true}, {def, true, 65535, 165535, true}, {def, false, 65536, 0, false},
		{ms, false, 999, 100999, true}, {ms, false, 1000, 1000, true}, {ms, true, 1000, 1000, true},
		{ms, false, 1001, 101001, true}, {ms, true, 65535, 165535, true}, {ms, false, -1, 0, false},
		{nil, false, 0, 0, false},
	} {
		f, name := tt.maps.MapUID, "MapUID"
		if tt.gid {
			f, name = tt.maps.MapGID, "MapGID"
		}
		if host, ok := f(tt.inside); host != tt.host || ok != tt.ok {
			t.Errorf("%s(%d) on %v = %d, %v; want %d, %v", name, tt.inside, tt.maps, host, ok, tt.host, tt.ok)
		}
	}
	for _, tt := range []struct {
		lines []string
		want  string
	}{
		{[]string{"u 0 100000 65536"}, "no group ids are mapped"},
		{[]string{"g 0 100000 65536"}, "no user ids are mapped"},
		{[]string{"u 1 100000 65536", "g 0 100000 65536"}, "user id 0 (root) inside the container is not mapped"},
		{[]string{"u 0 100000 65536", "g 1000 1000 1"}, "group id 0 (root)"},
		{[]string{"u 0 100000 2000", "u 1000 1000 1", "g 0 100000 65536"}, `"u 0 100000 2000" and "u 1000 1000 1" overlap inside the container`},
		{[]string{"u 0 100000 10", "u 10 100005 10", "g 0 100000 65536"}, "overlap on the host"},
		{[]string{"u 0 100000 65536", "x"}, "expected u or g"},
	} {
		if _, err := ParseIDMaps(tt.lines); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.lines, err, tt.want)
		}
	}
}
