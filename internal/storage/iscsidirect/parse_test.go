package iscsidirect

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLs(t *testing.T) {
	got, err := ParseLs([]byte(fixture(t, "iscsi-ls-s.txt")))
	if err != nil {
		t.Fatal(err)
	}
	want := []LsTarget{
		{IQN: "iqn.2024-01.org.hearth:other", Portal: "127.0.0.1:13260,1", LUNs: []LsLUN{
			{LUN: 0, Type: "STORAGE_ARRAY_CONTROLLER", Size: -1},
			{LUN: 1, Type: "DIRECT_ACCESS", Size: 9 << 20},
			{LUN: 2, Type: "DIRECT_ACCESS", Size: 1 << 40},
			{LUN: 3, Type: "DIRECT_ACCESS", Size: 1 << 20},
			{LUN: 4, Type: "DIRECT_ACCESS", Size: 3 << 10},
		}},
		{IQN: testIQN, Portal: "127.0.0.1:13260,1", LUNs: []LsLUN{
			{LUN: 0, Type: "STORAGE_ARRAY_CONTROLLER", Size: -1},
			{LUN: 1, Type: "DIRECT_ACCESS", Size: 63 << 20},
			{LUN: 2, Type: "DIRECT_ACCESS", Size: 1 << 30},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseLs = %+v\nwant %+v", got, want)
	}
}

func TestParseLsCases(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []LsTarget
		err  string
	}{
		{name: "empty", in: "", want: nil},
		{
			name: "two portals of one target",
			in: "Target:iqn.a:x Portal:10.0.0.1:3260,1\nLun:1    Type:DIRECT_ACCESS (Size:2G)\n" +
				"Target:iqn.a:x Portal:10.0.1.1:3260,2\nLun:1    Type:DIRECT_ACCESS (Size:2G)\nLun:2    Type:DIRECT_ACCESS (Size:1.5T)\n",
			want: []LsTarget{{IQN: "iqn.a:x", Portal: "10.0.0.1:3260,1", LUNs: []LsLUN{
				{LUN: 1, Type: "DIRECT_ACCESS", Size: 2 << 30}, {LUN: 2, Type: "DIRECT_ACCESS", Size: 3 << 39}}}},
		},
		{
			name: "warnings and blank lines",
			in:   "\nlibiscsi warning: something\nTarget:iqn.a:x Portal:[fd00::1]:3260,1\n  Lun:7 Type:DIRECT_ACCESS (Size:5k)  \n",
			want: []LsTarget{{IQN: "iqn.a:x", Portal: "[fd00::1]:3260,1", LUNs: []LsLUN{{LUN: 7, Type: "DIRECT_ACCESS", Size: 5 << 10}}}},
		},
		{name: "lun first", in: "Lun:1 Type:DIRECT_ACCESS (Size:1G)\n", err: "before any target"},
		{name: "huge lun", in: "Target:iqn.a:x Portal:p\nLun:99999999999999999999 Type:DIRECT_ACCESS\n", err: "invalid LUN number"},
		{name: "bad size", in: "Target:iqn.a:x Portal:p\nLun:1 Type:DIRECT_ACCESS (Size:1.2.3G)\n", err: "invalid size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLs([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseLs = %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseCapacity(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{fixture(t, "rc16-lun2.txt"), 1610612736, true},
		{"0\n", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"Total size:67108864", 0, false},
	} {
		got, err := ParseCapacity([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseCapacity(%q) = %d, %v", c.in, got, err)
		}
	}
}

func TestParseInitiatorName(t *testing.T) {
	if got := ParseInitiatorName([]byte(fixture(t, "initiatorname.iscsi"))); got != initiator {
		t.Errorf("got %q", got)
	}
	for _, in := range []string{"", "## InitiatorName=x\n", "InitiatorName=bad name\n", "InitiatorName=\n"} {
		if got := ParseInitiatorName([]byte(in)); got != "" {
			t.Errorf("ParseInitiatorName(%q) = %q, want none", in, got)
		}
	}
}

func TestVolname(t *testing.T) {
	for _, c := range []struct {
		name string
		lun  int
		ok   bool
	}{
		{"lun0", 0, true}, {"lun1", 1, true}, {"lun16383", 16383, true},
		{"lun16384", 0, false}, {"LUN1", 0, false}, {"lun1 ", 0, false}, {"lun", 0, false}, {"1", 0, false},
	} {
		n, err := ParseVolname(c.name)
		if (err == nil) != c.ok || n != c.lun {
			t.Errorf("ParseVolname(%q) = %d, %v", c.name, n, err)
		}
		if c.ok && Volname(n) != c.name {
			t.Errorf("Volname(%d) = %q", n, Volname(n))
		}
	}
}

// FuzzParseLs checks that any iscsi-ls output is either refused or read
// into targets with sane names, LUN numbers and sizes.
func FuzzParseLs(f *testing.F) {
	f.Add([]byte(fixture(f, "iscsi-ls-s.txt")))
	f.Add([]byte("Target:iqn.a:x Portal:10.0.0.1:3260,1\nLun:1    Type:DIRECT_ACCESS (Size:1.5T)\nLun:1 Type:X\n"))
	f.Add([]byte("Lun:0 Type:DIRECT_ACCESS (Size:9M)\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		targets, err := ParseLs(out)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, tg := range targets {
			if tg.IQN == "" || strings.ContainsAny(tg.IQN, " \t\n") || seen[tg.IQN] {
				t.Fatalf("bad or repeated target %q in %q", tg.IQN, out)
			}
			seen[tg.IQN] = true
			luns := map[int]bool{}
			for _, l := range tg.LUNs {
				if l.LUN < 0 || l.LUN > maxLUN || luns[l.LUN] || l.Size < -1 {
					t.Fatalf("bad LUN %+v of %s in %q", l, tg.IQN, out)
				}
				luns[l.LUN] = true
			}
		}
	})
}
