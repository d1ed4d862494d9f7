package schema

import (
	"reflect"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	tests := []struct {
		format, value string
		ok            bool
	}{
		{"pve-node", "node1", true},
		{"pve-node", "Node-1", true},
		{"pve-node", "-node", false},
		{"pve-node", "a.b", false},
		{"pve-node", "../etc", false},
		{"pve-vmid", "100", true},
		{"pve-vmid", "99", false},
		{"pve-vmid", "1000000000", false},
		{"pve-vmid", "1e3", false},
		{"pve-configid", "net0", true},
		{"pve-configid", "0net", false},
		{"pve-storage-id", "local-lvm", true},
		{"pve-storage-id", "local.", false},
		{"pve-storage-id", "x", false},
		{"pve-userid", "admin@pve", true},
		{"pve-userid", "john@example.com@ldap", true},
		{"pve-userid", "admin", false},
		{"pve-userid", "ad min@pve", false},
		{"pve-userid", "a/b@pve", false},
		{"pve-userid", "admin@p", false},
		{"pve-userid", strings.Repeat("a", 61) + "@pve", false},
		{"pve-userid", strings.Repeat("ü", 60) + "@pve", true},
		{"pve-userid", "ünïcødé@pve", true},
		{"pve-userid", "ad\u00a0min@pve", false},
		{"pve-userid", "ad,min@pve", false},
		{"pve-userid", "ad\x01min@pve", false},
		{"pve-userid", "ad\xffmin@pve", false},
		{"pve-userid", "admin@pvé", false},
		{"pve-userid", "@pve", false},
		{"pve-tokenid", "admin@pve!ci", true},
		{"pve-tokenid", "admin@pve!1ci", false},
		{"pve-tokenid", "admin@pve", false},
		{"pve-realm", "pve", true},
		{"pve-realm", "p", false},
		{"pve-poolid", "a/b/c", true},
		{"pve-poolid", "a/b/c/d", false},
		{"pve-iface", "vmbr0", true},
		{"pve-iface", "eno1.100", true},
		{"mac-addr", "BC:24:11:aa:bb:cc", true},
		{"mac-addr", "01:24:11:aa:bb:cc", false},
		{"mac-addr", "BC:24:11:aa:bb", false},
		{"mac-prefix", "BC:24:11", true},
		{"mac-prefix", "BC:24:11:", true},
		{"mac-prefix", "BC:24:11:0", true},
		{"mac-prefix", "02", true},
		{"mac-prefix", "BC:24:11:0f", false},
		{"mac-prefix", "BC:24:11:00:1", false},
		{"mac-prefix", "BD:24:11", false},
		{"mac-prefix", "BC:", true},
		{"mac-prefix", "B", false},
		{"ipv4", "192.0.2.1", true},
		{"ipv4", "2001:db8::1", false},
		{"ipv6", "2001:db8::1", true},
		{"ip", "2001:db8::1", true},
		{"CIDR", "192.0.2.0/24", true},
		{"CIDR", "192.0.2.0", false},
		{"CIDRv6", "192.0.2.0/24", false},
		{"IPorCIDR", "10.0.0.1", true},
		{"ipv4mask", "255.255.255.0", true},
		{"ipv4mask", "255.0.255.0", false},
		{"disk-size", "32G", true},
		{"disk-size", "1.5T", true},
		{"disk-size", "4096", true},
		{"disk-size", "32GB", false},
		{"dns-name", "example.com", true},
		{"dns-name", "-x.com", false},
		{"email", "root@example.com", true},
		{"email", "root", false},
		{"email-opt", "", true},
		{"email-or-username", "root@pam", true},
		{"urlencoded", "a%20b", true},
		{"urlencoded", "a b", false},
		{"pve-volume-id", "local:100/vm-100-disk-0.qcow2", true},
		{"pve-volume-id", "local:../../etc/passwd", false},
		{"pve-storage-path", "/var/lib/vz", true},
		{"pve-storage-path", "/var/../etc", false},
		{"pve-storage-path", "relative", false},
		{"pve-upid", "UPID:node1:00001234:0000ABCD:64F0A1B2:qmstart:100:root@pam:", true},
		{"pve-upid", "UPID:node1:00001234:0000ABCD:64F0A1B2:qmstart:100:root@pam", false},
		{"pve-upid", "UPID:node1:00001234:0000ABCD:64F0A1B2:qmstart:../x:root@pam:", false},
		{"pve-vmid-list", "100,101 102;103", true},
		{"pve-vmid-list", "100,abc", false},
		{"pve-storage-content-list", "images,iso", true},
		{"pve-storage-content-list", "images,films", false},
	}
	for _, tt := range tests {
		err := CheckFormat(tt.format, tt.value)
		if (err == nil) != tt.ok {
			t.Errorf("CheckFormat(%s, %q) = %v, want ok=%v", tt.format, tt.value, err, tt.ok)
		}
	}
	if err := CheckFormat("no-such-format", "x"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{"1": 1, "1K": 1024, "32G": 32 << 30, "1.5M": 3 << 19, "2T": 2 << 40}
	for in, want := range tests {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "-1G", "1X", "99999999999T"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func testProps() Props {
	return Props{
		"node":    Node().Ptr(),
		"vmid":    VMID().Opt(),
		"force":   Bool("Force it.").Opt(),
		"limit":   IntRange("How many.", 0, 500).Def(50).Ptr(),
		"ratio":   Num("A fraction.").Opt(),
		"mode":    Enum("Mode.", "fast", "slow").Opt(),
		"name":    Schema{Type: String, MaxLength: 5, Optional: true}.Ptr(),
		"code":    Pat("A code.", `[A-Z]{3}`).Opt(),
		"ids":     ArrayOf("Ids.", Int("id")).Opt(),
		"secret":  Schema{Type: String, MinLength: 8, Optional: true, Sensitive: true}.Ptr(),
		"content": Schema{Type: String, Format: "pve-storage-content-list", Optional: true}.Ptr(),
	}
}

func TestDecodeParams(t *testing.T) {
	props := testProps()
	tests := []struct {
		name string
		raw  Raw
		want map[string]any
		errs Errors
	}{
		{"typed values", Raw{"node": {"n1"}, "vmid": {"100"}, "force": {"yes"}, "limit": {"7"}, "ratio": {"0.5"}, "ids": {"1", "2"}},
			map[string]any{"node": "n1", "vmid": int64(100), "force": true, "limit": int64(7), "ratio": 0.5, "ids": []any{int64(1), int64(2)}}, nil},
		{"missing required", Raw{}, nil, Errors{"node": "required parameter is missing"}},
		{"unknown parameter names the allowed ones", Raw{"node": {"n1"}, "bogus": {"1"}}, nil,
			Errors{"bogus": "unknown parameter; allowed: code, content, force, ids, limit, mode, name, node, ratio, secret, vmid"}},
		{"range", Raw{"node": {"n1"}, "vmid": {"50"}}, nil, Errors{"vmid": "must be at least 100"}},
		{"enum", Raw{"node": {"n1"}, "mode": {"warp"}}, nil, Errors{"mode": `"warp" is not allowed; expected one of: fast, slow`}},
		{"length", Raw{"node": {"n1"}, "name": {"abcdef"}}, nil, Errors{"name": "too long: at most 5 characters allowed, got 6"}},
		{"pattern", Raw{"node": {"n1"}, "code": {"ab"}}, nil, Errors{"code": `"ab" does not match the pattern [A-Z]{3}`}},
		{"repeated scalar", Raw{"node": {"n1", "n2"}}, nil, Errors{"node": "given more than once; expected a single value"}},
		{"bad bool", Raw{"node": {"n1"}, "force": {"maybe"}}, nil, Errors{"force": `expected a boolean (1/0, true/false, yes/no, on/off), got "maybe"`}},
		{"bad array item", Raw{"node": {"n1"}, "ids": {"1", "x"}}, nil, Errors{"ids": `item 1: expected an integer, got "x"`}},
		{"sensitive values are not echoed", Raw{"node": {"n1"}, "secret": {"short"}}, nil, Errors{"secret": "invalid value for a string parameter"}},
		{"path traversal in node", Raw{"node": {"../../etc"}}, nil, Errors{"node": `"../../etc" is not a valid node name: expected letters, digits and inner hyphens`}},
		{"list format", Raw{"node": {"n1"}, "content": {"iso,films"}}, nil, Errors{"content": `list item "films": "films" is not one of: images, rootdir, vztmpl, iso, backup, snippets, import, none`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := DecodeParams(props, tt.raw, false)
			if !reflect.DeepEqual(errs, tt.errs) && !(len(errs) == 0 && len(tt.errs) == 0) {
				t.Fatalf("errors = %#v, want %#v", errs, tt.errs)
			}
			if tt.errs == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("values = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeParamsExtra(t *testing.T) {
	got, errs := DecodeParams(Props{"a": Str("A.").Ptr()}, Raw{"a": {"1"}, "net0": {"virtio"}}, true)
	if errs != nil {
		t.Fatal(errs)
	}
	if got["net0"] != "virtio" || got["a"] != "1" {
		t.Fatalf("got %v", got)
	}
}

func TestCheckTyped(t *testing.T) {
	s := VMID()
	if err := s.Check(float64(100)); err != nil {
		t.Error(err)
	}
	if err := s.Check(100.5); err == nil {
		t.Error("fractional id accepted")
	}
	if err := s.Check("100"); err == nil {
		t.Error("string accepted for an integer")
	}
	str := Str("x").WithPattern("[a-z]+")
	if err := str.Check("ABC"); err == nil {
		t.Error("pattern not applied to typed strings")
	}
}

// FuzzDecodeParams checks that decoding arbitrary input never panics and
// either reports errors or returns values that pass Check.
func FuzzDecodeParams(f *testing.F) {
	f.Add("node", "n1", "vmid", "100")
	f.Add("limit", "-1", "ids", "7")
	f.Add("force", "TRUE", "content", "iso;images")
	f.Add("code", "ABC", "secret", "\xff\xfe")
	props := testProps()
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		raw := Raw{k1: {v1}, k2: {v2}}
		vals, errs := DecodeParams(props, raw, false)
		if errs != nil {
			if len(errs) == 0 {
				t.Fatal("empty error map returned")
			}
			return
		}
		for name, v := range vals {
			s := props[name]
			if s.Type == Array {
				continue
			}
			if err := s.Check(v); err != nil {
				t.Fatalf("decoded %s=%#v fails Check: %v", name, v, err)
			}
		}
	})
}
