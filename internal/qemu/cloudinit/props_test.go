package cloudinit

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseIPConfig(t *testing.T) {
	static := func(p, gw string) Addressing {
		a := Addressing{Mode: ModeStatic, Prefix: netip.MustParsePrefix(p)}
		if gw != "" {
			a.Gateway = netip.MustParseAddr(gw)
		}
		return a
	}
	dhcp := Addressing{Mode: ModeDHCP}
	for _, tc := range []struct {
		in   string
		want IPConfig
	}{
		{"ip=192.0.2.10/24,gw=192.0.2.1", IPConfig{IPv4: static("192.0.2.10/24", "192.0.2.1")}},
		{"ip6=2001:db8::10/64,gw6=2001:db8::1,ip=dhcp", IPConfig{IPv4: dhcp, IPv6: static("2001:db8::10/64", "2001:db8::1")}},
		{"ip=dhcp", IPConfig{IPv4: dhcp}},
		{"ip6=auto", IPConfig{IPv6: Addressing{Mode: ModeSLAAC}}},
		{"ip6=dhcp", IPConfig{IPv6: dhcp}},
		{"ip=DHCP,ip6=Auto", IPConfig{IPv4: dhcp, IPv6: Addressing{Mode: ModeSLAAC}}},
		{"ip=manual,ip6=manual", IPConfig{IPv4: Addressing{Mode: ModeManual}, IPv6: Addressing{Mode: ModeManual}}},
		// Neither family given: DHCP for IPv4, as the option documents.
		{"", IPConfig{IPv4: dhcp}},
		{" , ,", IPConfig{IPv4: dhcp}},
		// Tolerated: spaces, a trailing comma, a gateway next to dhcp.
		{" ip = 10.0.0.5/8 , gw = 10.0.0.1 ,", IPConfig{IPv4: static("10.0.0.5/8", "10.0.0.1")}},
		{"ip=dhcp,gw=192.0.2.1", IPConfig{IPv4: dhcp}},
	} {
		got, err := ParseIPConfig(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%q = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseIPConfigErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ip=192.0.2.10", "ip=192.0.2.10: expected dhcp, manual or an IPv4 address with prefix length"},
		{"ip=2001:db8::1/64", "ip=2001:db8::1/64: expected"},
		{"ip=auto", "ip=auto: expected dhcp, manual"},
		{"ip6=192.0.2.1/24", "ip6=192.0.2.1/24: expected dhcp, auto, manual or an IPv6"},
		{"ip6=::ffff:192.0.2.1/120", "expected dhcp, auto, manual or an IPv6"},
		{"ip6=fe80::1%eth0/64", "expected"},
		{"ip=192.0.2.10/24,gw=2001:db8::1", "gw=2001:db8::1: expected an IPv4 address"},
		{"ip6=2001:db8::2/64,gw6=192.0.2.1", "gw6=192.0.2.1: expected an IPv6 address"},
		{"gw=192.0.2.1", "gw=192.0.2.1 needs ip"},
		{"gw6=2001:db8::1", "gw6=2001:db8::1 needs ip6"},
		{"ip=dhcp,ip=dhcp", `key "ip" is given twice`},
		{"ipv4=dhcp", `unknown key "ipv4"; allowed: gw, gw6, ip, ip6`},
		{"dhcp", `"dhcp" is not a key=value pair`},
	} {
		_, err := ParseIPConfig(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestParseCICustom(t *testing.T) {
	got, err := ParseCICustom("user=local:snippets/u.yaml, network=nfs:snippets/n.yaml,meta=local:snippets/m,vendor=local:snippets/v.yaml")
	want := map[string]string{"user": "local:snippets/u.yaml", "network": "nfs:snippets/n.yaml", "meta": "local:snippets/m", "vendor": "local:snippets/v.yaml"}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"users=local:snippets/u.yaml", `unknown key "users"; allowed: meta, network, user, vendor`},
		{"user=", "user: needs a snippet volume"},
		{"user=a:snippets/x,user=b:snippets/y", `"user" is given twice`},
	} {
		if _, err := ParseCICustom(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestNetMAC(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1", "bc:24:11:aa:bb:cc", ""},
		{"model=e1000,macaddr=bc:24:11:00:00:01,bridge=vmbr1", "bc:24:11:00:00:01", ""},
		{"e1000=02:00:00:00:00:0a", "02:00:00:00:00:0a", ""},
		{"bridge=vmbr0,tag=5", "", ""},
		{"virtio,bridge=vmbr0", "", ""},
		{"model=virtio,macaddr=xx", "", `MAC address "xx" is not of the form`},
		{"model=virtio,macaddr=bc-24-11-00-00-01", "", "is not of the form"},
	} {
		got, err := NetMAC(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseIPConfig(f *testing.F) {
	f.Add("ip=192.0.2.10/24,gw=192.0.2.1,ip6=auto")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseIPConfig(in)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if c.IPv4.Mode == ModeNone && c.IPv6.Mode == ModeNone {
			t.Fatalf("%q: no family configured; IPv4 DHCP is the default", in)
		}
		for _, a := range []struct {
			a  Addressing
			v6 bool
		}{{c.IPv4, false}, {c.IPv6, true}} {
			if a.a.Mode == ModeStatic && (!a.a.Prefix.IsValid() || a.a.Prefix.Addr().Is6() != a.v6) {
				t.Fatalf("%q: static address %v of the wrong family", in, a.a.Prefix)
			}
			if a.a.Gateway.IsValid() && (a.a.Mode != ModeStatic || a.a.Gateway.Is6() != a.v6) {
				t.Fatalf("%q: gateway %v kept without a static address of its family", in, a.a.Gateway)
			}
		}
		// Whatever parses must generate.
		if _, err := Generate(Spec{VMID: 100, NICs: []NIC{{MAC: "bc:24:11:00:00:01", IPConfig: in}}}); err != nil && strings.TrimSpace(in) != "" {
			t.Fatalf("%q parses but does not generate: %v", in, err)
		}
	})
}

func FuzzParseCICustom(f *testing.F) {
	f.Add("user=local:snippets/u.yaml,meta=local:snippets/m.yaml")
	f.Fuzz(func(t *testing.T, in string) {
		kv, err := ParseCICustom(in)
		if err != nil {
			return
		}
		for k, v := range kv {
			if !slices.Contains(customKinds, k) || v == "" || strings.ContainsRune(v, ',') {
				t.Fatalf("%q gave %q=%q", in, k, v)
			}
		}
	})
}

func FuzzNetMAC(f *testing.F) {
	f.Add("virtio=BC:24:11:AA:BB:CC,bridge=vmbr0")
	f.Fuzz(func(t *testing.T, in string) {
		mac, err := NetMAC(in)
		if err != nil || mac == "" {
			return
		}
		if again, err := checkMAC(mac); err != nil || again != mac || mac != strings.ToLower(mac) {
			t.Fatalf("%q gave %q, which is not a canonical MAC (%v)", in, mac, err)
		}
	})
}
