package ifaces

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseRoundTripsEveryTestFileExactly(t *testing.T) {
	for name, data := range inputFiles(t) {
		t.Run(name, func(t *testing.T) {
			f := mustParse(t, data)
			if got := f.Bytes(); string(got) != string(data) {
				t.Errorf("round trip changed the file:\n%s", Diff("in", "out", data, got))
			}
			if got := f.Clone().Bytes(); string(got) != string(data) {
				t.Errorf("a clone writes different bytes")
			}
		})
	}
}

func TestParseRoundTripsOddInputs(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"one newline", "\n"},
		{"blank lines only", "\n\n  \n\t\n"},
		{"no final newline", "auto lo\niface lo inet loopback"},
		{"CRLF line ends", "auto lo\r\niface lo inet loopback\r\n\taddress 127.0.0.1/8\r\n"},
		{"spaces and tabs mixed", "iface eth0 inet static\n \taddress 10.0.0.1/8\n\t  gateway 10.0.0.254\n"},
		{"continuation at end of file", "iface eth0 inet manual\n\tup echo \\"},
		{"continued option", "iface eth0 inet manual\n\tpost-up a \\\n\t  b \\\n  c\n"},
		{"comment ending in backslash", "# not continued \\\niface eth0 inet manual\n"},
		{"option before any stanza", "\taddress 10.0.0.1\nauto eth0\n"},
		{"bare iface of ifupdown2", "iface swp1\n\tmtu 9000\n"},
		{"unknown family", "iface eth0 ipx static\n\tframe ethernet_802.2\n"},
		{"rename and no-scripts", "rename eth0=lan0\nno-scripts lan0\nno-auto-down lan0\n"},
		{"several names per auto", "auto lo eth0   eth1\nallow-hotplug eth2 eth3\n"},
		{"blank lines inside a stanza", "iface eth0 inet static\n\n\taddress 10.0.0.1/24\n\n\n\tgateway 10.0.0.254\n\n\n"},
		{"comment lines between stanzas", "iface a0 inet manual\n#c1\n\n#c2\niface a1 inet manual\n#c3"},
		{"latin-1 bytes", "# caf\xe9\niface eth0 inet manual\n"},
		{"whitespace only final line", "iface eth0 inet manual\n   "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustParse(t, []byte(tc.in))
			if got := string(f.Bytes()); got != tc.in {
				t.Errorf("round trip: got %q, want %q", got, tc.in)
			}
		})
	}
}

func TestParseRefusesWhatIsNotAnInterfacesFile(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"auto lo\n\x00\n", "line 2: NUL byte"},
		{"auto lo\n\niface\n", "line 3: iface needs an interface name"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// TestListGolden pins the GET /nodes/{node}/network answer for every test
// file, merged with testHost, and the problems Validate finds.
func TestListGolden(t *testing.T) {
	for _, name := range sortedKeys(inputFiles(t)) {
		t.Run(name, func(t *testing.T) {
			f := mustParse(t, inputFiles(t)[name])
			list, err := f.List(testHost(), "")
			if err != nil {
				t.Fatal(err)
			}
			var problems []FieldError
			if err := f.Validate(testHost()); err != nil {
				problems = err.(*ValidationError).Errors
			}
			goldenJSON(t, "list/"+name+".json", map[string]any{"list": list, "problems": problems})
		})
	}
}

func TestTypeDetection(t *testing.T) {
	for _, tc := range []struct {
		stanza string
		want   string
	}{
		{"iface lo inet loopback", TypeLoopback},
		{"iface eno1 inet manual", TypeEth},
		{"iface eth0 inet manual", TypeEth},
		{"iface enp3s0f1 inet manual", TypeEth},
		{"iface ibp1s0 inet manual", TypeEth},
		{"iface nic0 inet manual", TypeEth},
		{"iface vmbr0 inet manual", TypeBridge},
		{"iface lan inet manual\n\tbridge-ports eno1", TypeBridge},
		{"iface lan inet manual\n\tbridge_ports none", TypeBridge},
		{"iface bond0 inet manual", TypeBond},
		{"iface uplink inet manual\n\tbond-slaves eno1 eno2", TypeBond},
		{"iface uplink inet manual\n\tbond_slaves eno1", TypeBond},
		{"iface uplink inet manual\n\tslaves eno1", TypeBond},
		{"iface eno1.100 inet manual", TypeVLAN},
		{"iface bond0.5 inet manual", TypeVLAN},
		{"iface vmbr0.5 inet manual", TypeVLAN},
		{"iface vlan100 inet manual\n\tvlan-raw-device eno1", TypeVLAN},
		{"iface mgmt inet manual\n\tvlan_raw_device eno1\n\tvlan-id 3", TypeVLAN},
		{"iface vlan100 inet manual", TypeUnknown},
		{"iface eno1:1 inet static\n\taddress 10.0.0.2/24", TypeAlias},
		{"iface vmbr1 inet manual\n\tovs_type OVSBridge", TypeOVSBridge},
		{"iface bond1 inet manual\n\tovs_type OVSBond", TypeOVSBond},
		{"iface eno3 inet manual\n\tovs_type OVSPort", TypeOVSPort},
		{"iface int1 inet manual\n\tovs-type OVSIntPort", TypeOVSIntPort},
		{"iface x inet manual\n\tovs_type Nonsense", TypeUnknown},
		{"iface wg0 inet static\n\taddress 10.9.0.1/24", TypeUnknown},
		{"iface dummy0 inet manual", TypeUnknown},
	} {
		f := mustParse(t, []byte(tc.stanza+"\n"))
		ifs := f.Interfaces()
		if len(ifs) != 1 {
			t.Fatalf("%q: %d interfaces", tc.stanza, len(ifs))
		}
		if ifs[0].Type != tc.want {
			t.Errorf("%q: type %s, want %s", tc.stanza, ifs[0].Type, tc.want)
		}
	}
}

func TestNumericBondModesReadAsNames(t *testing.T) {
	for n, want := range bondModes() {
		f := mustParse(t, []byte("iface bond0 inet manual\n\tbond-slaves eno1\n\tbond-mode "+string(rune('0'+n))+"\n"))
		if got := f.Interface("bond0").APIValue()["bond_mode"]; got != want {
			t.Errorf("bond-mode %d: got %v, want %s", n, got, want)
		}
	}
}

func TestAPIValueAddressForms(t *testing.T) {
	for _, tc := range []struct {
		stanza string
		want   map[string]any
	}{
		{"iface e inet static\n\taddress 10.1.2.3/24",
			map[string]any{"address": "10.1.2.3", "netmask": "24", "cidr": "10.1.2.3/24"}},
		{"iface e inet static\n\taddress 10.1.2.3\n\tnetmask 255.255.255.0",
			map[string]any{"address": "10.1.2.3", "netmask": "24", "cidr": "10.1.2.3/24"}},
		{"iface e inet static\n\taddress 10.1.2.3",
			map[string]any{"address": "10.1.2.3", "cidr": "10.1.2.3/32"}},
		{"iface e inet static\n\taddress 10.1.2.3\n\tnetmask 255.0.255.0",
			map[string]any{"address": "10.1.2.3", "netmask": "255.0.255.0", "cidr": "10.1.2.3/32"}},
		{"iface e inet6 static\n\taddress fd00::1/64",
			map[string]any{"address6": "fd00::1", "netmask6": "64", "cidr6": "fd00::1/64"}},
		{"iface e inet6 static\n\taddress fd00::1\n\tnetmask 48",
			map[string]any{"address6": "fd00::1", "netmask6": "48", "cidr6": "fd00::1/48"}},
		{"iface e inet6 static\n\taddress fd00::1",
			map[string]any{"address6": "fd00::1", "cidr6": "fd00::1"}},
	} {
		f := mustParse(t, []byte(tc.stanza+"\n"))
		m := f.Interface("e").APIValue()
		for _, k := range []string{"address", "netmask", "cidr", "address6", "netmask6", "cidr6"} {
			if !reflect.DeepEqual(m[k], tc.want[k]) {
				t.Errorf("%q: %s = %v, want %v", tc.stanza, k, m[k], tc.want[k])
			}
		}
	}
}

func TestInterfacesMergeInetAndInet6Stanzas(t *testing.T) {
	f := mustParse(t, inputFiles(t)["ipv6-dhcp"])
	it := f.Interface("vmbr0")
	if !reflect.DeepEqual(it.Families, []string{"inet", "inet6"}) {
		t.Errorf("families %v", it.Families)
	}
	m := it.APIValue()
	want := map[string]any{
		"iface": "vmbr0", "type": "bridge", "method": "static", "method6": "static",
		"families": []string{"inet", "inet6"}, "priority": 4, "autostart": 1,
		"address": "192.0.2.10", "netmask": "28", "cidr": "192.0.2.10/28",
		"address6": "2001:db8:10::2", "netmask6": "64", "cidr6": "2001:db8:10::2/64",
		"gateway6": "2001:db8:10::1", "bridge_ports": "enp3s0f0", "bridge_stp": "off", "bridge_fd": "0",
		"options":  []string{"dns-nameservers 192.0.2.1 192.0.2.2", "dns-search example.com"},
		"options6": []string{"post-up ip -6 route add 2001:db8:99::/48 via 2001:db8:10::fe"},
	}
	if !reflect.DeepEqual(m, want) {
		got, _ := json.Marshal(m)
		exp, _ := json.Marshal(want)
		t.Errorf("got  %s\nwant %s", got, exp)
	}
}

func TestRepeatedSettingsAreKeptAsOptions(t *testing.T) {
	f := mustParse(t, []byte("iface e inet static\n\taddress 10.0.0.1/24\n\taddress 10.0.0.2/24\niface e inet static\n\tgateway 10.0.0.254\n\taddress 10.0.0.3/24\n"))
	it := f.Interface("e")
	if it.Inet.Address != "10.0.0.1/24" || it.Inet.Gateway != "10.0.0.254" {
		t.Errorf("first address and gateway: %q %q", it.Inet.Address, it.Inet.Gateway)
	}
	want := []string{"address 10.0.0.2/24", "address 10.0.0.3/24"}
	if !reflect.DeepEqual(it.Inet.Options, want) {
		t.Errorf("options %q, want %q", it.Inet.Options, want)
	}
}

func TestCommentsAreTheStanzasHashLines(t *testing.T) {
	f := mustParse(t, inputFiles(t)["comments"])
	for name, want := range map[string]string{
		"lo":    " nothing to see here\n",
		"eno1":  " no address on the NIC itself\n",
		"vmbr0": " this is the address of the host\n trailing comment in the stanza\nsecond comment, no indent\n",
		"vmbr1": " a blank line above, still inside vmbr1\n end of file comment\n",
	} {
		if got := f.Interface(name).Inet.Comments; got != want {
			t.Errorf("%s: comments %q, want %q", name, got, want)
		}
	}
	if !f.Interface("vmbr1").BridgeVlanAware {
		t.Error("an option after a blank line inside a stanza was not read")
	}
}

func TestAutoLinesNamingSeveralInterfaces(t *testing.T) {
	f := mustParse(t, inputFiles(t)["ipv6-dhcp"])
	for name, want := range map[string]bool{"lo": true, "eno1": true, "vmbr0": true, "enp3s0f0": false} {
		if got := f.Interface(name).Autostart; got != want {
			t.Errorf("%s autostart %v, want %v", name, got, want)
		}
	}
}
