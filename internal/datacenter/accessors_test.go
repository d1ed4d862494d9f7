package datacenter

import (
	"net/netip"
	"reflect"
	"testing"
)

func parseOK(t *testing.T, data string) *Config {
	t.Helper()
	c, warnings := Parse([]byte(data))
	if len(warnings) > 0 {
		t.Fatalf("warnings: %q", warnings)
	}
	return c
}

func TestNextIDRange(t *testing.T) {
	tests := []struct {
		file         string
		lower, upper int
	}{
		{"", 100, 1000000},
		{"next-id: lower=500\n", 500, 1000000},
		{"next-id: upper=101\n", 100, 101},
		{"next-id: lower=1000,upper=2000\n", 1000, 2000},
		{"next-id: lower=999999999,upper=1000000000\n", 999999999, 1000000000},
		// An invalid range in the file is dropped: the defaults apply.
		{"next-id: lower=2000,upper=1000\n", 100, 1000000},
		{"next-id: lower=1000001\n", 100, 1000000},
	}
	for _, tt := range tests {
		c, _ := Parse([]byte(tt.file))
		lower, upper := c.NextIDRange()
		if lower != tt.lower || upper != tt.upper {
			t.Errorf("%q: range %d..%d, want %d..%d", tt.file, lower, upper, tt.lower, tt.upper)
		}
	}
	// At write time the range must be non-empty within the guest id bounds.
	for value, ok := range map[string]bool{
		"lower=100":                       true,
		"lower=99":                        false,
		"upper=101":                       true,
		"upper=100":                       false, // lower defaults to 100: empty
		"lower=1000000":                   false, // upper defaults to 1000000: empty
		"lower=1000000,upper=1000001":     true,
		"lower=999999999,upper=999999999": false,
		"upper=1000000000":                true,
		"upper=1000000001":                false,
		"lower=1000000000":                false,
	} {
		if err := New().Set("next-id", value); (err == nil) != ok {
			t.Errorf("Set(next-id, %s) = %v, want ok=%v", value, err, ok)
		}
	}
}

func TestSimpleAccessors(t *testing.T) {
	empty := New()
	if empty.MACPrefix() != "BC:24:11" || empty.Console() != "" || empty.Keyboard() != "" ||
		empty.Language() != "" || empty.HTTPProxy() != "" || empty.HAShutdownPolicy() != "conditional" {
		t.Errorf("defaults: %q %q %q %q %q %q", empty.MACPrefix(), empty.Console(), empty.Keyboard(),
			empty.Language(), empty.HTTPProxy(), empty.HAShutdownPolicy())
	}
	c := parseOK(t, "mac_prefix: 02:AB\nconsole: vv\nkeyboard: fr-ch\nlanguage: ja\n"+
		"http_proxy: http://proxy:3128\nha: shutdown_policy=freeze\n")
	if c.MACPrefix() != "02:AB" || c.Console() != "vv" || c.Keyboard() != "fr-ch" ||
		c.Language() != "ja" || c.HTTPProxy() != "http://proxy:3128" || c.HAShutdownPolicy() != "freeze" {
		t.Errorf("values: %q %q %q %q %q %q", c.MACPrefix(), c.Console(), c.Keyboard(),
			c.Language(), c.HTTPProxy(), c.HAShutdownPolicy())
	}
	if c, _ := Parse([]byte("console: applet\n")); c.Console() != "html5" {
		t.Errorf("the retired applet reads as %q, want html5", c.Console())
	}
}

func TestMigrationSettings(t *testing.T) {
	tests := []struct {
		file string
		want Migration
	}{
		{"", Migration{}},
		{"migration: secure\n", Migration{}},
		{"migration: insecure,network=10.1.2.0/24\n", Migration{Insecure: true, Network: netip.MustParsePrefix("10.1.2.0/24")}},
		{"migration: type=secure,network=fd00::/64\n", Migration{Network: netip.MustParsePrefix("fd00::/64")}},
	}
	for _, tt := range tests {
		if got := parseOK(t, tt.file).MigrationSettings(); got != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.file, got, tt.want)
		}
	}
	// The retired flag still decides when migration is absent.
	c, _ := Parse([]byte("migration_unsecure: 1\n"))
	if !c.MigrationSettings().Insecure {
		t.Error("migration_unsecure: 1 is not insecure")
	}
}

func TestBandwidthLimits(t *testing.T) {
	b := parseOK(t, "bwlimit: default=1000,clone=0,restore=250.5\n").BandwidthLimits()
	want := BandwidthLimits{"default": 1000, "clone": 0, "restore": 250.5}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("limits = %v", b)
	}
	for op, w := range map[string]struct {
		v  float64
		ok bool
	}{
		"restore":   {250.5, true},
		"migration": {1000, true}, // falls back to default
		"clone":     {0, false},   // its own 0 means unlimited, overriding the default
	} {
		if v, ok := b.For(op); v != w.v || ok != w.ok {
			t.Errorf("For(%s) = %v %v, want %v %v", op, v, ok, w.v, w.ok)
		}
	}
	if _, ok := New().BandwidthLimits().For("move"); ok {
		t.Error("a limit without bwlimit")
	}
}

func TestTagAccess(t *testing.T) {
	if got := New().TagAccess(); !reflect.DeepEqual(got, TagAccess{UserAllow: "free"}) {
		t.Errorf("default: %+v", got)
	}
	got := parseOK(t, "registered-tags: prod;base\nuser-tag-access: user-allow=list,user-allow-list=web;db\n").TagAccess()
	want := TagAccess{UserAllow: "list", AllowList: []string{"db", "web"}, Registered: []string{"base", "prod"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
