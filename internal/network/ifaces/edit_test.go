package ifaces

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// editCase applies some edits to a test file; the result and its diff
// are golden files under testdata/edits/.
type editCase struct {
	name  string
	file  string // a test file's base name, or "" for an empty file
	edits func(f *File) error
}

func editCases() []editCase {
	host := testHost()
	return []editCase{
		{"create-bridge", "pve-default", func(f *File) error {
			return f.Create(Params{"iface": "vmbr1", "type": "bridge", "autostart": true,
				"cidr": "10.10.10.1/24", "bridge_ports": "", "comments": "NAT for the lab"}, host)
		}},
		{"update-address", "pve-default", func(f *File) error {
			return f.Update("vmbr0", Params{"type": "bridge", "cidr": "192.168.10.3/24"}, nil, host)
		}},
		{"configure-host-only-nic", "pve-default", func(f *File) error {
			return f.Update("enp5s0", Params{"type": "eth", "autostart": true, "mtu": int64(9000)}, nil, host)
		}},
		{"delete-bond-slave", "bond-vlan-aware", func(f *File) error {
			return f.Delete("eno2")
		}},
		{"create-vlan-on-bridge", "bond-vlan-aware", func(f *File) error {
			return f.Create(Params{"iface": "vmbr0.70", "type": "vlan", "autostart": true, "cidr": "10.70.0.11/24"}, host)
		}},
		{"create-active-backup-bond", "bond-vlan-aware", func(f *File) error {
			return f.Create(Params{"iface": "bond1", "type": "bond", "autostart": true, "slaves": "enp5s0,enp3s0f0",
				"bond_mode": "active-backup", "bond-primary": "enp5s0"}, host)
		}},
		{"create-balance-xor-bond-with-numeric-mode", "pve-default", func(f *File) error {
			return f.Create(Params{"iface": "bond0", "type": "bond", "slaves": "enp5s0 enp3s0f0",
				"bond_mode": "2", "bond_xmit_hash_policy": "layer3+4", "mtu": "9000"}, host)
		}},
		{"make-bridge-vlan-aware", "traditional-vlans", func(f *File) error {
			return f.Update("vmbr0", Params{"type": "bridge", "bridge_vlan_aware": true, "bridge_vids": "2-100,200"}, nil, host)
		}},
		{"create-traditional-vlan-pair", "traditional-vlans", func(f *File) error {
			if err := f.Create(Params{"iface": "eno1.200", "type": "vlan"}, host); err != nil {
				return err
			}
			return f.Create(Params{"iface": "vmbr0v200", "type": "bridge", "autostart": 1, "bridge_ports": "eno1.200"}, host)
		}},
		{"create-named-vlan", "vlan-raw-device", func(f *File) error {
			return f.Create(Params{"iface": "storage", "type": "vlan", "vlan-raw-device": "bond0", "vlan-id": int64(30),
				"address": "172.16.30.5", "netmask": "255.255.255.0", "mtu": 9000}, host)
		}},
		{"delete-address6-keeps-options", "ipv6-dhcp", func(f *File) error {
			return f.Update("vmbr0", Params{"type": "bridge"}, []string{"address6,gateway6"}, host)
		}},
		{"remove-from-shared-auto-line", "ipv6-dhcp", func(f *File) error {
			return f.Update("vmbr0", Params{"type": "bridge", "autostart": false}, nil, host)
		}},
		{"comment-dhcp-nic", "ipv6-dhcp", func(f *File) error {
			return f.Update("eno1", Params{"type": "eth", "comments": "uplink\nDHCP from the ISP"}, nil, host)
		}},
		{"add-ipv6-to-bridge", "pve-default", func(f *File) error {
			return f.Update("vmbr0", Params{"type": "bridge", "cidr6": "2001:db8::2/64", "gateway6": "2001:db8::1"}, nil, host)
		}},
		{"rewrite-stanza-with-inner-blank-line", "comments", func(f *File) error {
			return f.Update("vmbr1", Params{"type": "bridge", "mtu": 9000}, nil, host)
		}},
		{"delete-commented-bridge", "comments", func(f *File) error {
			return f.Delete("vmbr0")
		}},
		{"update-keeps-post-up-order", "masquerade", func(f *File) error {
			return f.Update("vmbr0", Params{"type": "bridge", "cidr": "10.10.10.254/24"}, nil, host)
		}},
		{"create-ovs-int-port", "ovs", func(f *File) error {
			return f.Create(Params{"iface": "vlan60", "type": "OVSIntPort", "autostart": true,
				"ovs_bridge": "vmbr1", "ovs_tag": 60, "cidr": "10.60.10.44/24"}, host)
		}},
		{"delete-ovs-bond", "ovs", func(f *File) error {
			return f.Delete("bond0")
		}},
		{"create-in-file-without-final-newline", "source-mapping", func(f *File) error {
			return f.Create(Params{"iface": "vmbr1", "type": "bridge", "bridge_ports": "eno2"}, host)
		}},
		{"create-in-empty-file", "", func(f *File) error {
			if err := f.Create(Params{"iface": "vmbr0", "type": "bridge", "autostart": true, "bridge_ports": "eno1",
				"cidr": "192.168.1.2/24", "gateway": "192.168.1.1"}, host); err != nil {
				return err
			}
			return f.Update("eno1", Params{"type": "eth"}, nil, host)
		}},
	}
}

func TestEditsGolden(t *testing.T) {
	files := inputFiles(t)
	for _, tc := range editCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := files[tc.file]
			f := mustParse(t, in)
			if err := tc.edits(f); err != nil {
				t.Fatalf("edit: %v", err)
			}
			out := f.Bytes()
			golden(t, "edits/"+tc.name+".interfaces", out)
			golden(t, "edits/"+tc.name+".diff", []byte(Diff("/etc/network/interfaces", "/etc/network/interfaces.new", in, out)))
			again := mustParse(t, out)
			if string(again.Bytes()) != string(out) {
				t.Error("the edited file does not round-trip")
			}
			if err := again.Validate(testHost()); err != nil {
				t.Errorf("the edited file does not validate: %v", err)
			}
		})
	}
}

// TestEditTouchesOnlyTheEditedStanza checks, on every test file, that
// updating one interface leaves every line outside its stanzas as it was.
func TestEditTouchesOnlyTheEditedStanza(t *testing.T) {
	for name, data := range inputFiles(t) {
		f := mustParse(t, data)
		for _, it := range f.Interfaces() {
			if it.Type == TypeLoopback || it.Priority == 0 {
				continue
			}
			g := f.Clone()
			if err := g.Update(it.Name, Params{"comments": "edited"}, nil, testHost()); err != nil {
				t.Errorf("%s: update %s: %v", name, it.Name, err)
				continue
			}
			before, after := outside(f, it.Name), outside(g, it.Name)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("%s: updating %s changed other lines:\n%s", name, it.Name,
					Diff("before", "after", []byte(strings.Join(before, "\n")), []byte(strings.Join(after, "\n"))))
			}
			if got := g.Interface(it.Name).Inet.Comments; !strings.HasSuffix(got, "edited\n") && got != "edited\n" {
				t.Errorf("%s: %s comments %q", name, it.Name, got)
			}
		}
	}
}

// outside returns the lines of blocks that are not stanzas of name.
func outside(f *File, name string) []string {
	var out []string
	for _, b := range f.blocks {
		if b.kind == blockIface && b.ifaceName() == name {
			continue
		}
		out = append(out, b.lines...)
	}
	return out
}

func TestUpdateWithNothingChangedKeepsTheFile(t *testing.T) {
	for name, data := range inputFiles(t) {
		f := mustParse(t, data)
		for _, it := range f.Interfaces() {
			if err := f.Update(it.Name, Params{"type": it.Type}, nil, testHost()); err != nil {
				t.Errorf("%s: update %s: %v", name, it.Name, err)
			}
		}
		if got := f.Bytes(); string(got) != string(data) {
			t.Errorf("%s: empty updates changed the file:\n%s", name, Diff("in", "out", data, got))
		}
	}
}

func TestDeleteRemovesTheInterfaceEverywhere(t *testing.T) {
	f := mustParse(t, []byte("auto lo eno1 vmbr0\niface lo inet loopback\n\niface eno1 inet manual\n\niface eno2 inet manual\n\n"+
		"auto bond0\niface bond0 inet manual\n\tbond-slaves eno1 eno2\n\tbond-miimon 100\n\tbond-mode active-backup\n\tbond-primary eno1\n\n"+
		"auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports eno1 bond0\n\tbridge-stp off\n\tbridge-fd 0\n"))
	if err := f.Delete("eno1"); err != nil {
		t.Fatal(err)
	}
	want := "auto lo vmbr0\niface lo inet loopback\n\niface eno2 inet manual\n\n" +
		"auto bond0\niface bond0 inet manual\n\tbond-slaves eno2\n\tbond-miimon 100\n\tbond-mode active-backup\n\n" +
		"auto vmbr0\niface vmbr0 inet manual\n\tbridge-ports bond0\n\tbridge-stp off\n\tbridge-fd 0\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestMissingInterfaceIsErrNotFound(t *testing.T) {
	f := mustParse(t, inputFiles(t)["pve-default"])
	for _, err := range []error{
		f.Delete("vmbr9"),
		f.Update("vmbr9", Params{"type": "bridge"}, nil, testHost()),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Fields()["iface"] != "interface vmbr9 does not exist" {
			t.Errorf("got %v, want a ValidationError naming iface", err)
		}
	}
}

func TestFailedEditLeavesFileUnchanged(t *testing.T) {
	data := inputFiles(t)["bond-vlan-aware"]
	f := mustParse(t, data)
	if err := f.Create(Params{"iface": "vmbr1", "type": "bridge", "bridge_ports": "eno1"}, testHost()); err == nil {
		t.Fatal("a bond slave was accepted as bridge port")
	}
	if err := f.Update("vmbr0", Params{"cidr": "10.50.0.11/24"}, nil, testHost()); err == nil {
		t.Fatal("a duplicate address was accepted")
	}
	if string(f.Bytes()) != string(data) {
		t.Error("failed edits changed the file")
	}
}

func TestEditsTolerateProblemsTheFileAlreadyHas(t *testing.T) {
	f := mustParse(t, []byte("iface eno1 inet static\n\taddress 10.0.0.1/24\n\tgateway 10.0.0.254\n\n"+
		"iface eno2 inet static\n\taddress 10.0.1.1/24\n\tgateway 10.0.1.254\n\n"+
		"iface vmbr0 inet manual\n\tbridge-ports eno9\n"))
	if f.Validate(testHost()) == nil {
		t.Fatal("two gateways and a missing port went unnoticed")
	}
	if err := f.Update("eno2", Params{"mtu": 9000}, nil, testHost()); err != nil {
		t.Errorf("an unrelated edit was refused: %v", err)
	}
	if err := f.Create(Params{"iface": "vmbr1", "type": "bridge", "cidr": "10.0.2.1/24", "gateway": "10.0.2.254"}, testHost()); err == nil {
		t.Error("a third gateway was accepted")
	}
}

func TestOVSPortFollowsItsBridge(t *testing.T) {
	f := mustParse(t, inputFiles(t)["ovs"])
	if err := f.Create(Params{"iface": "vmbr2", "type": "OVSBridge", "autostart": true}, testHost()); err != nil {
		t.Fatal(err)
	}
	if err := f.Update("vlan50", Params{"ovs_bridge": "vmbr2"}, nil, testHost()); err != nil {
		t.Fatal(err)
	}
	if got := f.Interface("vmbr1").OVSPorts; !reflect.DeepEqual(got, []string{"bond0"}) {
		t.Errorf("vmbr1 ovs_ports %v", got)
	}
	if got := f.Interface("vmbr2").OVSPorts; !reflect.DeepEqual(got, []string{"vlan50"}) {
		t.Errorf("vmbr2 ovs_ports %v", got)
	}
}
