package vmconf

import (
	"bytes"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParseNet(t *testing.T) {
	tests := []struct {
		key, in string
		want    Net
		canon   string
	}{
		{"net0", "virtio=BC:24:11:2E:3A:1F,bridge=vmbr0,firewall=1",
			Net{Model: "virtio", MACAddr: "BC:24:11:2E:3A:1F", Bridge: "vmbr0", Firewall: Some(true)}, ""},
		{"net1", "bridge=vmbr1,model=e1000,macaddr=BC:24:11:00:00:02,tag=10,trunks=20;30-40,rate=12.5,queues=4,mtu=9000,link_down=yes",
			Net{Model: "e1000", MACAddr: "BC:24:11:00:00:02", Bridge: "vmbr1", Tag: Some(10), Trunks: "20;30-40", Rate: Some(12.5),
				Queues: Some(4), MTU: Some(9000), LinkDown: Some(true)},
			"e1000=BC:24:11:00:00:02,bridge=vmbr1,link_down=1,mtu=9000,queues=4,rate=12.5,tag=10,trunks=20;30-40"},
		{"net31", "rtl8139", Net{Model: "rtl8139"}, ""},
		{"net2", "vmxnet3,firewall=0", Net{Model: "vmxnet3", Firewall: Some(false)}, ""},
	}
	for _, tt := range tests {
		n, err := ParseNet(tt.key, tt.in)
		if err != nil {
			t.Errorf("ParseNet(%s, %q): %v", tt.key, tt.in, err)
			continue
		}
		want := tt.want
		want.Key, want.Index = n.Key, n.Index
		if !reflect.DeepEqual(*n, want) {
			t.Errorf("ParseNet(%q) =\n %+v, want\n %+v", tt.in, *n, want)
		}
		canon := tt.canon
		if canon == "" {
			canon = tt.in
		}
		if got := n.String(); got != canon {
			t.Errorf("ParseNet(%q).String() = %q, want %q", tt.in, got, canon)
		}
	}
	n, _ := ParseNet("net7", "virtio,trunks=1;5-7")
	if n.Key != "net7" || n.Index != 7 || !reflect.DeepEqual(n.TrunkRanges(), [][2]int{{1, 1}, {5, 7}}) {
		t.Errorf("net7: key %s index %d trunks %v", n.Key, n.Index, n.TrunkRanges())
	}
}

func TestParseNetRefuses(t *testing.T) {
	tests := []struct{ key, in, want string }{
		{"net32", "virtio", "not a network card key"},
		{"net01", "virtio", "not a network card key"},
		{"scsi0", "virtio", "not a network card key"},
		{"net0", "bridge=vmbr0", `required key "model" is missing`},
		{"net0", "virtio9", `"virtio9" is not allowed`},
		{"net0", "virtio,tag=0", "tag: must be at least 1"},
		{"net0", "virtio,tag=4095", "tag: must be at most 4094"},
		{"net0", "virtio,mtu=65521", "mtu: must be at most 65520"},
		{"net0", "virtio,queues=65", "queues: must be at most 64"},
		{"net0", "virtio,rate=-1", "rate: must be at least 0"},
		{"net0", "virtio=BC:24:11:2E:3A", "not a MAC address"},
		{"net0", "virtio=01:24:11:2E:3A:1F", "multicast"},
		{"net0", "virtio,trunks=10-5", "trunks: range \"10-5\" ends before it starts"},
		{"net0", "virtio,trunks=a", "trunks:"},
		{"net0", "virtio=BC:24:11:2E:3A:1F,e1000=BC:24:11:2E:3A:1F", "more than once"},
		{"net0", "virtio,firewall=maybe", "firewall: expected a boolean"},
	}
	for _, tt := range tests {
		_, err := ParseNet(tt.key, tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseNet(%s, %q) error = %v, want it to contain %q", tt.key, tt.in, err, tt.want)
		}
	}
}

func TestParseIDRanges(t *testing.T) {
	good := map[string][][2]int{"": nil, "3": {{3, 3}}, "0-3;8": {{0, 3}, {8, 8}}, "1;2;3": {{1, 1}, {2, 2}, {3, 3}}}
	for in, want := range good {
		got, err := ParseIDRanges(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseIDRanges(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"a", "1-", "-1", "3-1", "1-2-3", "1,2"} {
		if _, err := ParseIDRanges(in); err == nil {
			t.Errorf("ParseIDRanges(%q) was accepted", in)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestGenerateMAC(t *testing.T) {
	// 0x01 as the first random octet: the multicast bit must be cleared
	// and the local bit set, giving 0x02.
	src := []byte{0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	tests := []struct{ prefix, want string }{
		{"", "BC:24:11:CC:DD:EE"},
		{"BC:24:11", "BC:24:11:CC:DD:EE"},
		{"bc:24:11:0", "BC:24:11:0C:DD:EE"},
		{"02:00", "02:00:BB:CC:DD:EE"},
		{"not-a-prefix", "02:AA:BB:CC:DD:EE"},
		{"01:00:00", "02:AA:BB:CC:DD:EE"}, // a multicast prefix is refused
	}
	for _, tt := range tests {
		if got := GenerateMAC(tt.prefix, bytes.NewReader(src)); got != tt.want {
			t.Errorf("GenerateMAC(%q) = %s, want %s", tt.prefix, got, tt.want)
		}
	}
	macRE := regexp.MustCompile(`^BC:24:11(:[0-9A-F]{2}){3}$`)
	seen := map[string]bool{}
	for _, r := range []any{nil, failingReader{}} {
		for range 20 {
			var mac string
			if r == nil {
				mac = GenerateMAC("", nil)
			} else {
				mac = GenerateMAC("", r.(failingReader))
			}
			if !macRE.MatchString(mac) {
				t.Fatalf("random MAC %q has the wrong shape", mac)
			}
			seen[mac] = true
		}
	}
	if len(seen) < 35 {
		t.Errorf("only %d different addresses in 40 draws", len(seen))
	}
	if _, err := ParseNet("net0", "virtio="+GenerateMAC("", nil)); err != nil {
		t.Errorf("a generated address is refused: %v", err)
	}
}
