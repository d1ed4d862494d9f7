package natnet

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDefaults(t *testing.T) {
	c := Config{StateDir: "/var/lib/hearth/natnet"}.WithDefaults()
	if c.Bridge != "hearthnat0" || c.Subnet != netip.MustParsePrefix("10.213.0.0/24") ||
		c.Gateway != netip.MustParseAddr("10.213.0.1") ||
		c.DHCPRange != (Range{netip.MustParseAddr("10.213.0.128"), netip.MustParseAddr("10.213.0.254")}) {
		t.Errorf("defaults: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Error(err)
	}
	if c.Table() != "hearth-nat-hearthnat0" {
		t.Errorf("table %s", c.Table())
	}

	// Other subnets get the same treatment; host bits are dropped.
	c = Config{Subnet: netip.MustParsePrefix("172.30.5.9/28"), StateDir: "/s"}.WithDefaults()
	if c.Subnet.String() != "172.30.5.0/28" || c.Gateway.String() != "172.30.5.1" ||
		c.DHCPRange.Start.String() != "172.30.5.8" || c.DHCPRange.End.String() != "172.30.5.14" {
		t.Errorf("/28: %+v", c)
	}
	// The smallest subnet leaves one address for one guest.
	c = Config{Subnet: netip.MustParsePrefix("192.168.7.0/30"), StateDir: "/s"}.WithDefaults()
	if c.DHCPRange.Start.String() != "192.168.7.2" || c.DHCPRange.End.String() != "192.168.7.2" {
		t.Errorf("/30: %+v", c)
	}
	if err := c.validate(); err != nil {
		t.Error(err)
	}
}

func TestValidate(t *testing.T) {
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no state dir", Config{}, "needs a state directory"},
		{"relative state dir", Config{StateDir: "state"}, "not an absolute path"},
		{"newline", Config{StateDir: "/a\nb"}, "line break"},
		{"bridge name", Config{Bridge: "a-very-long-bridge", StateDir: "/s"}, "not a valid interface name"},
		{"bridge quote", Config{Bridge: `br"0`, StateDir: "/s"}, "not a valid interface name"},
		{"ipv6", Config{Subnet: netip.MustParsePrefix("fd00::/64"), StateDir: "/s"}, "not IPv4"},
		{"too small", Config{Subnet: netip.MustParsePrefix("10.1.1.0/31"), StateDir: "/s"}, "too small"},
		{"gateway outside", Config{Gateway: ip("10.9.9.1"), StateDir: "/s"}, "gateway 10.9.9.1 is not a host address"},
		{"gateway broadcast", Config{Gateway: ip("10.213.0.255"), StateDir: "/s"}, "not a host address"},
		{"range outside", Config{DHCPRange: Range{ip("10.213.0.100"), ip("10.213.1.5")}, StateDir: "/s"}, "DHCP range 10.213.0.100-10.213.1.5 is not inside"},
		{"range reversed", Config{DHCPRange: Range{ip("10.213.0.200"), ip("10.213.0.100")}, StateDir: "/s"}, "ends before it starts"},
		{"range has gateway", Config{DHCPRange: Range{ip("10.213.0.1"), ip("10.213.0.100")}, StateDir: "/s"}, "contains the gateway"},
		{"domain", Config{Domain: "bad domain", StateDir: "/s"}, "not a valid DNS name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.WithDefaults().validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRuleset(t *testing.T) {
	c := Config{StateDir: "/s"}.WithDefaults()
	want := `table inet hearth-nat-hearthnat0
delete table inet hearth-nat-hearthnat0
table inet hearth-nat-hearthnat0 {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "hearthnat0" accept
		oifname "hearthnat0" accept
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.213.0.0/24 oifname != "hearthnat0" masquerade
	}
}
`
	if got := ruleset(c); got != want {
		t.Errorf("ruleset:\n%s\nwant:\n%s", got, want)
	}
	if got := removal(c); got != "table inet hearth-nat-hearthnat0\ndelete table inet hearth-nat-hearthnat0\n" {
		t.Errorf("removal:\n%s", got)
	}
}

func TestDnsmasqConf(t *testing.T) {
	c := Config{StateDir: "/var/lib/hearth/nat", Bridge: "natbr1", Subnet: netip.MustParsePrefix("10.50.0.0/16")}.WithDefaults()
	want := `# Written by Hearth for the NAT network on natbr1; rewritten by every start.
interface=natbr1
bind-interfaces
except-interface=lo
dhcp-range=10.50.128.0,10.50.255.254,255.255.0.0,1h
dhcp-option=option:router,10.50.0.1
dhcp-leasefile=/var/lib/hearth/nat/dnsmasq.leases
pid-file=/var/lib/hearth/nat/dnsmasq.pid
dhcp-authoritative
no-hosts
port=0
`
	if got := dnsmasqConf(c); got != want {
		t.Errorf("DHCP only:\n%s\nwant:\n%s", got, want)
	}

	c.DNS = true
	c.Domain = "guests.example"
	want = strings.Replace(want, "port=0\n", "domain-needed\nbogus-priv\ndomain=guests.example\nlocal=/guests.example/\n", 1)
	if got := dnsmasqConf(c); got != want {
		t.Errorf("with DNS:\n%s\nwant:\n%s", got, want)
	}
}
