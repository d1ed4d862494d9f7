package ossetup

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/apply/")

const (
	debianOSRelease = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"
	// A typical template's file: loopback and a DHCP eth0.
	debianInterfaces = `# interfaces(5) file used by ifup(8) and ifdown(8)

auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
	# keep this comment
	post-up echo eth0 is up >/run/eth0.up

# a user's own interface
auto eth1
iface eth1 inet static
	address 10.9.9.9/24

source /etc/network/interfaces.d/*
`
	userHosts = "127.0.0.1\tlocalhost\n10.1.1.1 fileserver fs\n"
)

// applyCases cover every distribution family. Each runs Apply twice on a
// fresh tree; the tree after the first run is the golden file and the
// second run must change nothing.
var applyCases = []struct {
	name     string
	ostype   string
	files    map[string]string
	settings Settings
}{
	{
		name:   "debian-static",
		ostype: "debian",
		files: map[string]string{
			"etc/os-release":                   debianOSRelease,
			"etc/debian_version":               "12.5\n",
			"etc/network/interfaces":           debianInterfaces,
			"etc/hosts":                        userHosts,
			"etc/hostname":                     "template\n",
			"etc/resolv.conf":                  "nameserver 9.9.9.9\n",
			"usr/share/zoneinfo/Europe/Vienna": "TZif fake\n",
		},
		settings: Settings{
			Hostname:     "ct100",
			SearchDomain: "example.com lab.example.com",
			Nameservers:  []string{"192.0.2.53", "2001:db8::53"},
			Timezone:     "Europe/Vienna",
			Nets: []Net{
				{Index: 0, Name: "eth0", IP: "192.0.2.10/24", GW: "192.0.2.1", IP6: "2001:db8::10/64", GW6: "2001:db8::1", MTU: 1400},
				{Index: 1, Name: "eth2", IP: "dhcp", IP6: "auto"},
				// No address setting: left to the container.
				{Index: 2, Name: "eth3"},
			},
		},
	},
	{
		name:   "debian-fresh",
		ostype: "debian",
		files: map[string]string{
			"etc/debian_version": "12.5\n",
		},
		settings: Settings{
			Hostname: "web.example.org",
			Nets: []Net{
				{Index: 0, Name: "eth0", IP: "dhcp", IP6: "dhcp"},
				// The gateway is outside the subnet: routes are needed.
				{Index: 1, Name: "eth1", IP: "198.51.100.7/32", GW: "198.51.100.1", IP6: "2001:db8:1::7/128", GW6: "2001:db8:2::1"},
				{Index: 2, Name: "eth2", IP: "manual", IP6: "manual"},
			},
		},
	},
	{
		name:   "devuan",
		ostype: "devuan",
		files: map[string]string{
			"etc/os-release":         "ID=devuan\nVERSION_ID=5\n",
			"etc/network/interfaces": "auto lo eth0\niface lo inet loopback\niface eth0 inet dhcp\n",
		},
		settings: Settings{
			Hostname: "dev1",
			Nets:     []Net{{Index: 0, Name: "eth0", IP: "192.0.2.20/24", GW: "192.0.2.1"}},
		},
	},
	{
		name:   "ubuntu-networkd",
		ostype: "ubuntu",
		files: map[string]string{
			"etc/os-release":            "ID=ubuntu\nVERSION_ID=\"22.04\"\n",
			"etc/netplan/10-lxc.yaml":   "network:\n  version: 2\n",
			"etc/hosts":                 "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
			"usr/share/zoneinfo/UTC":    "TZif fake\n",
			"etc/systemd/network/.keep": "",
		},
		settings: Settings{
			Hostname: "u1",
			Timezone: "UTC",
			Nets: []Net{
				{Index: 0, Name: "eth0", IP: "203.0.113.5/32", GW: "203.0.113.1", IP6: "2001:db8::5/64", GW6: "fe80::1", MTU: 9000},
				{Index: 1, Name: "eth1", IP: "dhcp", IP6: "dhcp"},
				{Index: 2, Name: "eth2", IP6: "auto"},
			},
		},
	},
	{
		name:   "ubuntu-ifupdown",
		ostype: "ubuntu",
		files: map[string]string{
			"etc/os-release": "ID=ubuntu\nVERSION_ID=\"16.04\"\n",
		},
		settings: Settings{
			Hostname: "xenial",
			Nets:     []Net{{Index: 0, Name: "eth0", IP: "dhcp"}},
		},
	},
	{
		name:   "alpine",
		ostype: "alpine",
		files: map[string]string{
			"etc/alpine-release":     "3.19.1\n",
			"etc/network/interfaces": "auto lo\niface lo inet loopback\n",
			"etc/hosts":              "127.0.0.1 localhost localhost.localdomain\n",
		},
		settings: Settings{
			Hostname:    "alp",
			Nameservers: []string{"192.0.2.53"},
			Timezone:    "Europe/Vienna", // no tzdata: a warning, no change
			Nets: []Net{
				{Index: 0, Name: "eth0", IP: "192.0.2.30/24", GW: "192.0.2.1", IP6: "auto"},
				{Index: 1, Name: "eth1", IP: "dhcp", IP6: "dhcp"},
			},
		},
	},
	{
		name:   "busybox",
		ostype: "busybox",
		files: map[string]string{
			"etc/os-release": "ID=busybox\nNAME=\"Hearth busybox\"\n",
			"etc/passwd":     "root:x:0:0:root:/root:/bin/sh\n",
		},
		settings: Settings{
			Hostname: "bb",
			Nets: []Net{
				{Index: 0, Name: "eth0", IP: "192.0.2.40/24", GW: "192.0.2.1", IP6: "2001:db8::40/64", GW6: "2001:db8::1", MTU: 1450},
			},
		},
	},
	{
		name:   "archlinux",
		ostype: "archlinux",
		files: map[string]string{
			"etc/os-release": "ID=arch\n",
		},
		settings: Settings{
			Hostname: "arch",
			Nets:     []Net{{Index: 0, Name: "eth0", IP: "192.0.2.50/24", GW: "192.0.2.1", IP6: "manual"}},
		},
	},
	{
		name:   "pve-ignore",
		ostype: "debian",
		files: map[string]string{
			"etc/debian_version":                 "12\n",
			"etc/network/interfaces":             debianInterfaces,
			"etc/network/.pve-ignore.interfaces": "",
			"etc/hosts":                          userHosts,
			"etc/.pve-ignore.hosts":              "",
			"etc/resolv.conf":                    "nameserver 9.9.9.9\n",
			"etc/.pve-ignore.resolv.conf":        "",
			"etc/hostname":                       "mine\n",
			"etc/.pve-ignore.hostname":           "",
		},
		settings: Settings{
			Hostname:    "ignored",
			Nameservers: []string{"192.0.2.53"},
			Nets:        []Net{{Index: 0, Name: "eth0", IP: "192.0.2.10/24"}},
		},
	},
	{
		name:   "existing-block",
		ostype: "debian",
		files: map[string]string{
			"etc/debian_version": "12\n",
			// A section written before, between user lines, with the
			// old name; it must be updated where it is.
			"etc/hosts":       "# user header\n10.0.0.1 router\n# --- BEGIN PVE ---\n127.0.1.1 oldname\n# --- END PVE ---\n10.0.0.2 nas\n",
			"etc/resolv.conf": "options edns0\n# --- BEGIN PVE ---\nnameserver 9.9.9.9\n# --- END PVE ---\n",
		},
		settings: Settings{
			Hostname:     "newname",
			SearchDomain: "example.net",
		},
	},
}

func TestApplyGolden(t *testing.T) {
	for _, tc := range applyCases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			makeTree(t, root, tc.files)
			res, err := Apply(root, tc.ostype, tc.settings, selfShift())
			if err != nil {
				t.Fatal(err)
			}
			got := dumpTree(t, root)
			got += "== changed\n" + strings.Join(res.Changed, "\n") + "\n"
			got += "== warnings\n" + strings.Join(res.Warnings, "\n") + "\n"
			checkGolden(t, filepath.Join("apply", tc.name+".golden"), got)

			// Idempotence: same bytes, nothing reported as changed.
			before := dumpTree(t, root)
			res2, err := Apply(root, tc.ostype, tc.settings, selfShift())
			if err != nil {
				t.Fatal(err)
			}
			if after := dumpTree(t, root); after != before {
				t.Errorf("second Apply changed the tree:\n--- first\n%s\n--- second\n%s", before, after)
			}
			if len(res2.Changed) != 0 {
				t.Errorf("second Apply reported changes: %v", res2.Changed)
			}
		})
	}
}

func TestApplyUnmanagedTouchesNothing(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{
		"etc/os-release":         debianOSRelease,
		"etc/network/interfaces": debianInterfaces,
		"etc/hosts":              userHosts,
	})
	before := dumpTree(t, root)
	s := applyCases[0].settings
	res, err := Apply(root, "unmanaged", s, selfShift())
	if err != nil {
		t.Fatal(err)
	}
	if after := dumpTree(t, root); after != before {
		t.Errorf("unmanaged container was changed:\n%s", after)
	}
	if len(res.Changed) != 0 {
		t.Errorf("changes reported: %v", res.Changed)
	}
}

func TestApplyUnsupportedOSTypeChangesNothing(t *testing.T) {
	for _, ostype := range []string{"centos", "fedora", "opensuse", "gentoo", "nixos"} {
		root := t.TempDir()
		makeTree(t, root, map[string]string{"etc/hostname": "old\n"})
		before := dumpTree(t, root)
		_, err := Apply(root, ostype, Settings{Hostname: "new"}, selfShift())
		var u *Unsupported
		if !errors.As(err, &u) || u.OSType != ostype {
			t.Errorf("%s: got %v, want *Unsupported naming the ostype", ostype, err)
		} else if !strings.Contains(err.Error(), ostype) {
			t.Errorf("%s: message %q does not name the ostype", ostype, err)
		}
		if after := dumpTree(t, root); after != before {
			t.Errorf("%s: tree changed", ostype)
		}
	}
}

func TestApplyRejectsBadSettings(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		ostype string
		s      Settings
		want   string
	}{
		{"windows", Settings{}, `unknown ostype "windows"`},
		{"debian", Settings{Hostname: "bad_name"}, `hostname "bad_name"`},
		{"debian", Settings{Nameservers: []string{"dns.example"}}, `nameserver "dns.example"`},
		{"debian", Settings{SearchDomain: "ok.example bad!"}, `"bad!" is not a DNS name`},
		{"debian", Settings{Timezone: "../../etc/shadow"}, `timezone "../../etc/shadow"`},
		{"debian", Settings{Nets: []Net{{Name: "eth0", IP: "192.0.2.1"}}}, `net0: ip "192.0.2.1"`},
		{"debian", Settings{Nets: []Net{{Name: "eth0", IP: "2001:db8::1/64"}}}, `net0: ip "2001:db8::1/64"`},
		{"debian", Settings{Nets: []Net{{Name: "eth0", IP6: "192.0.2.1/24"}}}, `net0: ip6 "192.0.2.1/24"`},
		{"debian", Settings{Nets: []Net{{Name: "eth0", GW: "2001:db8::1"}}}, `net0: gw "2001:db8::1"`},
		{"debian", Settings{Nets: []Net{{Name: "eth0", GW6: "fe80::1%eth0"}}}, `net0: gw6 "fe80::1%eth0"`},
		{"debian", Settings{Nets: []Net{{Name: "../x", IP: "dhcp"}}}, `net0: name "../x"`},
		{"debian", Settings{Nets: []Net{{Name: "eth0", MTU: 10}}}, `net0: mtu 10`},
		{"debian", Settings{Nets: []Net{{Index: 0, Name: "eth0"}, {Index: 1, Name: "eth0"}}}, `net1: interface name eth0 is already used by net0`},
	}
	for _, c := range cases {
		_, err := Apply(root, c.ostype, c.s, selfShift())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want error containing %s", c.s, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("rejected settings left files behind: %v", entries)
	}
}

func TestApplyHostTimezone(t *testing.T) {
	host := t.TempDir()
	zoneDir := filepath.Join(host, "usr/share/zoneinfo/America")
	if err := os.MkdirAll(zoneDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(zoneDir, "New_York"), []byte("TZif"), 0o644); err != nil {
		t.Fatal(err)
	}
	localtime := filepath.Join(host, "localtime")
	if err := os.Symlink(filepath.Join(zoneDir, "New_York"), localtime); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	makeTree(t, root, map[string]string{
		"etc/debian_version":                  "12\n",
		"etc/timezone":                        "Etc/UTC\n",
		"etc/localtime":                       "-> /usr/share/zoneinfo/Etc/UTC",
		"usr/share/zoneinfo/America/New_York": "TZif",
	})
	s := Settings{Timezone: "host", hostLocaltime: localtime}
	if _, err := Apply(root, "debian", s, selfShift()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(root, "etc/localtime")); got != "../usr/share/zoneinfo/America/New_York" {
		t.Errorf("localtime -> %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/timezone")); string(got) != "America/New_York\n" {
		t.Errorf("timezone = %q", got)
	}

	// A host whose localtime is a plain copy has no zone name to pass on.
	if err := os.Remove(localtime); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(localtime, []byte("TZif"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(root, "debian", s, selfShift())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "timezone host") {
		t.Errorf("warnings = %q, want one about the host time zone", res.Warnings)
	}
}

// TestApplyKeepsMode checks that a rewritten file keeps the mode the
// container gave it, and a new one gets the default.
func TestApplyKeepsMode(t *testing.T) {
	root := t.TempDir()
	makeTree(t, root, map[string]string{"etc/debian_version": "12\n", "etc/hostname": "old\n"})
	if err := os.Chmod(filepath.Join(root, "etc/hostname"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(root, "debian", Settings{Hostname: "new"}, selfShift()); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]os.FileMode{"etc/hostname": 0o600, "etc/hosts": 0o644} {
		info, err := os.Stat(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", file, info.Mode().Perm(), want)
		}
	}
}
