package ossetup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func mustNets(t testing.TB, nets ...Net) []ifaceConf {
	t.Helper()
	cs, err := Settings{Nets: nets}.check()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestParseInterfacesStructure(t *testing.T) {
	in := "auto lo eth0\n" +
		"iface lo inet loopback\n" +
		"\n" +
		"iface eth0 inet static\n" +
		"    address 1.2.3.4\n" +
		"# comment inside\n" +
		"\n" +
		"    up echo \\\n" +
		"iface not-a-stanza\n" +
		"# trailing comment\n" +
		"\n" +
		"mapping eth1\n" +
		"  script foo\n" +
		"allow-hotplug eth1\n" +
		"orphan option"
	f := parseInterfaces(in)
	if got := f.String(); got != in {
		t.Fatalf("round trip:\n%q\nwant\n%q", got, in)
	}
	type item struct {
		kind  ifItemKind
		head  string
		nbody int
	}
	want := []item{
		{ifAuto, "auto lo eth0", 0},
		{ifIface, "iface lo inet loopback", 0},
		{ifRaw, "", 0},
		// The backslash joins "iface not-a-stanza" to the up line,
		// as ifupdown reads it; comments between options stay inside.
		{ifIface, "iface eth0 inet static", 4},
		{ifRaw, "# trailing comment", 0},
		{ifRaw, "", 0},
		{ifOther, "mapping eth1", 1},
		{ifRaw, "allow-hotplug eth1", 0},
		{ifOrphan, "orphan option", 0},
	}
	if len(f.items) != len(want) {
		t.Fatalf("got %d items, want %d: %+v", len(f.items), len(want), f.items)
	}
	for i, w := range want {
		it := f.items[i]
		if it.kind != w.kind || it.header != w.head || len(it.body) != w.nbody {
			t.Errorf("item %d = {%v %q body %d}, want {%v %q body %d}", i, it.kind, it.header, len(it.body), w.kind, w.head, w.nbody)
		}
	}
	if !f.noEOL {
		t.Error("missing final newline not recorded")
	}
}

func TestRewriteInterfaces(t *testing.T) {
	eth0Static := Net{Name: "eth0", IP: "192.0.2.10/24", GW: "192.0.2.1"}
	cases := []struct {
		name string
		in   string
		nets []Net
		want string
	}{
		{
			name: "no managed interface leaves the file as is",
			in:   "iface eth0 inet dhcp", // no newline, no lo
			nets: []Net{{Name: "eth0"}},
			want: "iface eth0 inet dhcp",
		},
		{
			name: "stanza replaced in place, other interfaces kept",
			in:   "auto lo\niface lo inet loopback\n\niface eth0 inet dhcp\n\tpost-up true\n\niface eth1 inet dhcp\n",
			nets: []Net{eth0Static},
			want: "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress 192.0.2.10\n\tnetmask 255.255.255.0\n\tgateway 192.0.2.1\n\tpost-up true\n\niface eth1 inet dhcp\n",
		},
		{
			name: "auto line loses the managed name only",
			in:   "auto lo eth0 eth1\niface lo inet loopback\n",
			nets: []Net{eth0Static},
			want: "auto lo eth1\niface lo inet loopback\n\nauto eth0\niface eth0 inet static\n\taddress 192.0.2.10\n\tnetmask 255.255.255.0\n\tgateway 192.0.2.1\n",
		},
		{
			name: "duplicate stanzas merge into one, old address options dropped",
			in:   "iface lo inet loopback\niface eth0 inet static\n\taddress 10.0.0.1\n\tnetmask 8\n\tbroadcast 10.255.255.255\n\tmtu 9000\n\tpost-up a\niface eth1 inet manual\niface eth0 inet static\n\tpost-up b\n",
			nets: []Net{eth0Static},
			want: "iface lo inet loopback\nauto eth0\niface eth0 inet static\n\taddress 192.0.2.10\n\tnetmask 255.255.255.0\n\tgateway 192.0.2.1\n\tpost-up a\n\tpost-up b\niface eth1 inet manual\n",
		},
		{
			name: "family no longer configured loses its stanza",
			in:   "iface lo inet loopback\niface eth0 inet dhcp\niface eth0 inet6 auto\n",
			nets: []Net{{Name: "eth0", IP6: "manual"}},
			want: "iface lo inet loopback\nauto eth0\niface eth0 inet6 manual\n",
		},
		{
			name: "a user's subnet route survives, gateway routes are regenerated",
			in:   "iface lo inet loopback\niface eth0 inet static\n\tpost-up ip route add 10.0.0.0/8 dev eth0\n\tpost-up ip route add 1.1.1.1 dev eth0\n",
			nets: []Net{{Name: "eth0", IP: "192.0.2.10/32", GW: "192.0.2.1"}},
			want: "iface lo inet loopback\nauto eth0\niface eth0 inet static\n\taddress 192.0.2.10\n\tnetmask 255.255.255.255\n" +
				"\tpost-up ip route add 192.0.2.1 dev eth0\n\tpost-up ip route add default via 192.0.2.1 dev eth0\n" +
				"\tpre-down ip route del default via 192.0.2.1 dev eth0\n\tpre-down ip route del 192.0.2.1 dev eth0\n" +
				"\tpost-up ip route add 10.0.0.0/8 dev eth0\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := rewriteInterfaces(c.in, mustNets(t, c.nets...), dialectDebian, func(string) {})
			if got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
			if again := rewriteInterfaces(got, mustNets(t, c.nets...), dialectDebian, func(string) {}); again != got {
				t.Errorf("not idempotent:\n%s", again)
			}
		})
	}
}

// TestBusyboxAcceptsOutput feeds the busybox flavour to busybox's own ifup
// in dry-run mode: it must parse the whole file (an unknown method makes
// it reject everything) and plan the expected commands.
func TestBusyboxAcceptsOutput(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed (Debian package busybox-static): cannot check its ifup syntax")
	}
	nets := []Net{
		{Index: 0, Name: "eth0", IP: "192.0.2.40/24", GW: "192.0.2.1", IP6: "2001:db8::40/64", GW6: "2001:db8::1", MTU: 1450},
		{Index: 1, Name: "eth1", IP: "dhcp", IP6: "dhcp"},
		{Index: 2, Name: "eth2", IP6: "auto"},
		{Index: 3, Name: "eth3", IP: "198.51.100.7/32", GW: "198.51.100.1"},
	}
	text := rewriteInterfaces("", mustNets(t, nets...), dialectBusybox, func(string) {})
	file := filepath.Join(t.TempDir(), "interfaces")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"eth0": {"ip addr add 192.0.2.40/24 dev eth0", "ip link set mtu 1450 eth0 up", "ip route add default via 192.0.2.1 dev eth0",
			"ip addr add 2001:db8::40/64 dev eth0", "ip route add ::/0 via 2001:db8::1 dev eth0"},
		"eth1": {"udhcpc "},
		"eth2": {"ip link set dev eth2 up"},
		"eth3": {"ip addr add 198.51.100.7/32 dev eth3", "ip route add 198.51.100.1 dev eth3", "ip route add default via 198.51.100.1 dev eth3"},
	}
	for iface, cmds := range want {
		out, err := exec.Command(bb, "ifup", "-n", "-v", "-f", "-i", file, iface).CombinedOutput()
		if err != nil {
			t.Fatalf("busybox ifup %s: %v\n%s\nfile:\n%s", iface, err, out, text)
		}
		for _, c := range cmds {
			if !strings.Contains(string(out), c) {
				t.Errorf("ifup %s plan lacks %q:\n%s\nfile:\n%s", iface, c, out, text)
			}
		}
	}
}

func FuzzInterfaces(f *testing.F) {
	f.Add(debianInterfaces)
	f.Add("auto lo eth0\niface lo inet loopback\niface eth0 inet dhcp\n\tup \\\n x\n# c\n")
	nets := mustNets(f,
		Net{Index: 0, Name: "eth0", IP: "192.0.2.10/24", GW: "198.51.100.1", IP6: "auto"},
		Net{Index: 1, Name: "eth1", IP: "dhcp", IP6: "2001:db8::1/64", GW6: "2001:db8::ff"},
	)
	f.Fuzz(func(t *testing.T, in string) {
		if got := parseInterfaces(in).String(); got != in {
			t.Fatalf("round trip changed the file:\n%q\n%q", in, got)
		}
		for _, d := range []ifDialect{dialectDebian, dialectBusybox} {
			once := rewriteInterfaces(in, nets, d, func(string) {})
			twice := rewriteInterfaces(once, nets, d, func(string) {})
			if once != twice {
				t.Fatalf("dialect %d not idempotent:\ninput %q\nonce  %q\ntwice %q", d, in, once, twice)
			}
			// Exactly one stanza per managed family afterwards.
			n := 0
			for _, it := range parseInterfaces(once).items {
				if it.kind == ifIface && it.name == "eth0" && it.family == "inet" {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("dialect %d: %d eth0 inet stanzas in\n%s", d, n, once)
			}
		}
	})
}
