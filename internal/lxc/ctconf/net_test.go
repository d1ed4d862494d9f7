package ctconf

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseNet(t *testing.T) {
	tests := []struct {
		key, value string
		want       Net
		canonical  string
	}{
		{"net0", "bridge=vmbr0,hwaddr=66:64:66:64:64:36,ip=dhcp,name=eth0,type=veth",
			Net{Key: "net0", Name: "eth0", Bridge: "vmbr0", HWAddr: "66:64:66:64:64:36", IP: "dhcp", Type: "veth"},
			"bridge=vmbr0,hwaddr=66:64:66:64:64:36,ip=dhcp,name=eth0,type=veth"},
		{"net3", "name=eth1,bridge=vmbr1,ip=192.168.15.147/24,gw=192.168.15.1,ip6=2001:db8::10/64,gw6=2001:db8::1,tag=20," +
			"trunks=30;040,rate=2.5,mtu=1400,firewall=yes,link_down=0,host-managed=1",
			Net{Key: "net3", Index: 3, Name: "eth1", Bridge: "vmbr1", IP: "192.168.15.147/24", GW: "192.168.15.1",
				IP6: "2001:db8::10/64", GW6: "2001:db8::1", Tag: Some(20), Trunks: []int{30, 40}, Rate: Some(2.5),
				MTU: Some(1400), Firewall: Some(true), LinkDown: Some(false), HostManaged: Some(true)},
			"bridge=vmbr1,firewall=1,gw=192.168.15.1,gw6=2001:db8::1,host-managed=1,ip=192.168.15.147/24," +
				"ip6=2001:db8::10/64,link_down=0,mtu=1400,name=eth1,rate=2.5,tag=20,trunks=30;40"},
		{"net9", "name=lan.5,ip6=auto,ip=manual", Net{Key: "net9", Index: 9, Name: "lan.5", IP: "manual", IP6: "auto"},
			"ip=manual,ip6=auto,name=lan.5"},
	}
	for _, tt := range tests {
		n, err := ParseNet(tt.key, tt.value)
		if err != nil {
			t.Errorf("%s %q: %v", tt.key, tt.value, err)
			continue
		}
		if !reflect.DeepEqual(*n, tt.want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", tt.key, tt.value, *n, tt.want)
		}
		if got := n.String(); got != tt.canonical {
			t.Errorf("%s %q printed as %q, want %q", tt.key, tt.value, got, tt.canonical)
		}
		back, err := ParseNet(tt.key, n.String())
		if err != nil || !reflect.DeepEqual(back, n) {
			t.Errorf("%s: round trip of %q: %+v, %v", tt.key, n.String(), back, err)
		}
	}
}

func TestParseNetErrors(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"net0", "bridge=vmbr0", `required key "name"`},
		{"net0", "name=eth0,ip=10.0.0.1", `ip: "10.0.0.1" is not valid: expected an IPv4 address with prefix length`},
		{"net0", "name=eth0,ip=dhcp6", "ip:"},
		{"net0", "name=eth0,ip6=::ffff:10.0.0.1/96", "ip6: \"::ffff:10.0.0.1/96\" is not an IPv6 address"},
		{"net0", "name=eth0,ip6=fe80::1%eth0/64", "ip6:"},
		{"net0", "name=eth0,ip6=1:2:3/64", "ip6: \"1:2:3/64\" is not an IPv6 address"},
		{"net0", "name=eth0,gw=10.0.0.1", "gw: needs ip"},
		{"net0", "name=eth0,gw6=2001:db8::1", "gw6: needs ip6"},
		{"net0", "name=eth0,ip=10.0.0.2/24,gw=2001:db8::1", "gw:"},
		{"net0", "name=eth0,ip6=2001:db8::2/64,gw6=10.0.0.1", "gw6:"},
		{"net0", "name=eth0,trunks=0", "trunks: \"0\" is not a VLAN id"},
		{"net0", "name=eth0,trunks=10;5000", "trunks: \"5000\" is not a VLAN id"},
		{"net0", "name=eth0,trunks=10-20", "trunks: \"10-20\" is not valid: expected VLAN ids"},
		{"net0", "name=..", "name: \"..\" cannot name an interface"},
		{"net0", "name=eth0,mtu=70000", "mtu: must be at most 65535"},
		{"net0", "name=eth0,rate=-1", "rate: must be at least 0"},
		{"net10", "name=eth0", "expected net0 to net9"},
		{"mp0", "name=eth0", "not a network interface key"},
	}
	for _, tt := range tests {
		_, err := ParseNet(tt.key, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: error %v, want one containing %q", tt.key, tt.value, err, tt.want)
		}
	}
}

func TestNetStaticAddresses(t *testing.T) {
	n, err := ParseNet("net0", "name=eth0,ip=192.0.2.10/24,ip6=dhcp")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := n.StaticIP(); !ok || p != netip.MustParsePrefix("192.0.2.10/24") {
		t.Errorf("StaticIP() = %v, %v", p, ok)
	}
	if p, ok := n.StaticIP6(); ok {
		t.Errorf("StaticIP6() of dhcp = %v, true", p)
	}
}

func TestNets(t *testing.T) {
	values := map[string]string{
		"net2": "name=eth2", "net0": "name=eth0", "net1": "name=eth1,ip=bad", "net10": "name=eth10", "mp0": "x",
	}
	var got []string
	for _, n := range Nets(values) {
		got = append(got, n.Key)
	}
	if strings.Join(got, ",") != "net0,net2" {
		t.Errorf("Nets = %v, want net0,net2", got)
	}
}
