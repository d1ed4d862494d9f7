package hostnet

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/network/ifaces"
	"github.com/hearth-virt/hearth/internal/network/netapply"
)

func parse(t *testing.T, text string) *ifaces.File {
	t.Helper()
	f, err := ifaces.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDesiredMapsEveryKindOfInterface(t *testing.T) {
	f := parse(t, `auto lo
iface lo inet loopback

iface eno1 inet manual
	mtu 9000

auto bond0
iface bond0 inet manual
	bond-slaves eno2 eno3
	bond-mode active-backup
	bond-miimon 100
	bond-primary eno2

auto vmbr0
iface vmbr0 inet static
	address 192.0.2.10/24
	gateway 192.0.2.1
	bridge-ports bond0
	bridge-stp off
	bridge-fd 0
	bridge-vlan-aware yes
	bridge-vids 2-10 20

iface vmbr0 inet6 static
	address 2001:db8::10/64

auto vmbr0:1
iface vmbr0:1 inet static
	address 198.51.100.5/24

auto eno1.5
iface eno1.5 inet manual

auto vlan7
iface vlan7 inet manual
	vlan-raw-device eno1
	vlan-id 7

auto ovsbr0
iface ovsbr0 inet manual
	ovs_type OVSBridge
`)
	d, notes, err := desired(f.Interfaces(), netapply.State{})
	if err != nil {
		t.Fatal(err)
	}
	fd := 0
	want := []netapply.Link{
		{Name: "eno1", Kind: netapply.KindEth, MTU: 9000, Manual: true},
		{Name: "bond0", Kind: netapply.KindBond, Up: true, Manual: true, Slaves: []string{"eno2", "eno3"}, BondMode: "active-backup", MIIMon: 100, Primary: "eno2"},
		{Name: "vmbr0", Kind: netapply.KindBridge, Up: true, Ports: []string{"bond0"}, ForwardDelay: &fd, VLANAware: true,
			VIDs:     []netapply.VIDRange{{From: 2, To: 10}, {From: 20, To: 20}},
			Addrs:    []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("2001:db8::10/64"), netip.MustParsePrefix("198.51.100.5/24")},
			Gateway4: netip.MustParseAddr("192.0.2.1")},
		{Name: "eno1.5", Kind: netapply.KindVLAN, Up: true, Manual: true, VLANID: 5, Parent: "eno1"},
		{Name: "vlan7", Kind: netapply.KindVLAN, Up: true, Manual: true, VLANID: 7, Parent: "eno1"},
	}
	if !reflect.DeepEqual(d.Links, want) {
		t.Errorf("links:\n got %+v\nwant %+v", d.Links, want)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "ovsbr0") {
		t.Errorf("notes %q, want one about the OVS bridge", notes)
	}
}

func TestDesiredKeepsTheRouteOfADHCPInterface(t *testing.T) {
	f := parse(t, "auto eno1\niface eno1 inet dhcp\n")
	gw := netip.MustParseAddr("192.0.2.1")
	d, _, err := desired(f.Interfaces(), netapply.State{Routes: []netapply.Route{{Gateway: gw, Link: "eno1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Links) != 1 || d.Links[0].Gateway4 != gw || d.Links[0].Manual {
		t.Fatalf("got %+v, want eno1 keeping its gateway %s", d.Links, gw)
	}
}

func TestIncludedFilesAddTheirInterfaces(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "interfaces")
	os.MkdirAll(filepath.Join(dir, "interfaces.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "interfaces.d", "vmbr5"), []byte("auto vmbr5\niface vmbr5 inet manual\n\tbridge-ports none\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "interfaces.d", "vmbr6.bak"), []byte("auto vmbr6\niface vmbr6 inet manual\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "extra.cfg"), []byte("iface eno1 inet manual\n"), 0o644)
	f := parse(t, "source-directory interfaces.d\nsource *.cfg\nsource /nonexistent/*\n")
	ifs, err := included(f, main, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range ifs {
		names = append(names, it.Name)
	}
	if !reflect.DeepEqual(names, []string{"vmbr5", "eno1"}) {
		t.Fatalf("included %v, want vmbr5 (not the .bak file) and eno1", names)
	}
}

func TestParseVIDsRefusesOutOfRange(t *testing.T) {
	for _, bad := range []string{"0", "4095", "10-5", "x"} {
		if _, err := vids(bad); err == nil {
			t.Errorf("vids(%q) accepted", bad)
		}
	}
}
