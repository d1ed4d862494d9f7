package schema

import (
	"reflect"
	"strings"
	"testing"
)

// netFormat mimics the shape of a guest NIC: a default key whose value can
// also be written as a key ("virtio=<mac>").
func netFormat() *PropString {
	models := []string{"e1000", "virtio", "rtl8139"}
	keys := Props{
		"model":    Enum("NIC model.", models...).Ptr(),
		"macaddr":  Schema{Type: String, Format: "mac-addr", Optional: true}.Ptr(),
		"bridge":   Schema{Type: String, Format: "pve-bridge-id", Optional: true}.Ptr(),
		"firewall": Bool("Filter this NIC.").Opt(),
		"tag":      IntRange("VLAN tag.", 1, 4094).Opt(),
		"rate":     Schema{Type: Number, Minimum: F(0), Optional: true}.Ptr(),
	}
	keys["model"].DefaultKey = true
	for _, m := range models {
		keys[m] = &Schema{Type: String, Alias: "macaddr", KeyAlias: "model", Optional: true}
	}
	return NewPropString(keys)
}

func TestPropStringParse(t *testing.T) {
	p := netFormat()
	tests := []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1",
			map[string]string{"model": "virtio", "macaddr": "BC:24:11:00:00:01", "bridge": "vmbr0", "firewall": "1"}, ""},
		{"model=e1000,macaddr=BC:24:11:00:00:02", map[string]string{"model": "e1000", "macaddr": "BC:24:11:00:00:02"}, ""},
		{"virtio", map[string]string{"model": "virtio"}, ""},
		{"virtio,bridge=vmbr1,tag=10,firewall=yes", map[string]string{"model": "virtio", "bridge": "vmbr1", "tag": "10", "firewall": "1"}, ""},
		{"virtio,,bridge=vmbr1,", map[string]string{"model": "virtio", "bridge": "vmbr1"}, ""},
		{"bridge=vmbr0", nil, `required key "model" is missing`},
		{"virtio,e1000", nil, `key "model" is given more than once`},
		{"virtio=BC:24:11:00:00:01,model=e1000", nil, `key "model" is given more than once`},
		{"virtio,bridge=a,bridge=b", nil, `key "bridge" is given more than once`},
		{"virtio,colour=red", nil, `unknown key "colour"`},
		{"virtio,tag=5000", nil, "tag: must be at most 4094"},
		{"virtio,tag=ten", nil, `tag: expected an integer, got "ten"`},
		{"virtio=01:00:00:00:00:01", nil, "multicast"},
		{"virtio,bridge=", nil, `key "bridge" has an empty value`},
		{"virtio,=x", nil, "missing key"},
		{"sparc", nil, `"sparc" is not allowed`},
		{`virtio,bridge="vmbr0`, nil, "unterminated quoted value"},
	}
	for _, tt := range tests {
		got, err := p.Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPropStringPrint(t *testing.T) {
	p := netFormat()
	tests := []struct {
		in   map[string]string
		want string
	}{
		{map[string]string{"model": "virtio", "macaddr": "BC:24:11:00:00:01", "bridge": "vmbr0", "firewall": "1"},
			"virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"},
		{map[string]string{"model": "virtio", "bridge": "vmbr0"}, "virtio,bridge=vmbr0"},
		{map[string]string{"bridge": "vmbr0", "tag": "3"}, "bridge=vmbr0,tag=3"},
	}
	for _, tt := range tests {
		if got := p.Print(tt.in); got != tt.want {
			t.Errorf("Print(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPropStringQuoting(t *testing.T) {
	p := NewPropString(Props{
		"name": Schema{Type: String, DefaultKey: true}.Ptr(),
		"note": Str("Free text.").Opt(),
	})
	m := map[string]string{"name": "a=b", "note": `x, "y" \ z`}
	s := p.Print(m)
	if s != `"a=b",note="x, \"y\" \\ z"` {
		t.Fatalf("Print = %q", s)
	}
	back, err := p.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip: got %v, want %v", back, m)
	}
}

func TestPropStringDecodeTypes(t *testing.T) {
	got, err := netFormat().Decode("virtio,tag=7,firewall=on,rate=12.5")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"model": "virtio", "tag": int64(7), "firewall": true, "rate": 12.5}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode = %#v, want %#v", got, want)
	}
}

func TestPropStringSynopsis(t *testing.T) {
	got := netFormat().Synopsis()
	want := "[model=]<e1000 | virtio | rtl8139> [,bridge=<string>] [,firewall=<1|0>] [,macaddr=<string>] [,rate=<number> (0 - N)] [,tag=<integer> (1 - 4094)]"
	if got != want {
		t.Fatalf("Synopsis =\n %q, want\n %q", got, want)
	}
}

func TestNewPropStringRejectsBadDeclarations(t *testing.T) {
	bad := []Props{
		{"a": {Type: String, DefaultKey: true}, "b": {Type: String, DefaultKey: true}},
		{"a": {Type: String, Alias: "missing"}},
		{"a": {Type: String, Alias: "b", KeyAlias: "missing"}, "b": {Type: String}},
	}
	for i, keys := range bad {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("declaration %d was accepted", i)
				}
			}()
			NewPropString(keys)
		}()
	}
}

// FuzzPropString checks that parsing never panics and that whatever parses
// prints to a string that parses back to the same values.
func FuzzPropString(f *testing.F) {
	for _, seed := range []string{
		"virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1",
		"virtio", "e1000,tag=4094", `virtio,bridge="a,b"`, ",,,", "=", `"`, `virtio,rate=1e3`,
	} {
		f.Add(seed)
	}
	p := netFormat()
	f.Fuzz(func(t *testing.T, s string) {
		m, err := p.Parse(s)
		if err != nil {
			return
		}
		out := p.Print(m)
		back, err := p.Parse(out)
		if err != nil {
			t.Fatalf("Print(%v) = %q does not parse: %v", m, out, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip of %q: %v != %v", s, back, m)
		}
	})
}
