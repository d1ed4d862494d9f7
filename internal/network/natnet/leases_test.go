package natnet

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/dnsmasq.leases holds lines in the form dnsmasq 2.90 writes
// them: an Ethernet client with hostname and client id, one without
// either, an infinite lease, an InfiniBand client (ARP type 32 = 0x20),
// and the DHCPv6 section that follows a "duid" line.
func TestParseLeases(t *testing.T) {
	f, err := os.Open("testdata/dnsmasq.leases")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseLeases(f)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(s string) net.HardwareAddr {
		m, err := net.ParseMAC(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	want := []Lease{
		{MAC: mac("bc:24:11:3a:5f:01"), IP: netip.MustParseAddr("10.213.0.131"), Hostname: "web1", Expiry: time.Unix(1732462863, 0)},
		{MAC: mac("bc:24:11:3a:5f:02"), IP: netip.MustParseAddr("10.213.0.188"), Expiry: time.Unix(1732463001, 0)},
		{MAC: mac("52:54:00:12:34:56"), IP: netip.MustParseAddr("10.213.0.200"), Hostname: "pinned"},
		{MAC: mac("80:00:00:48:fe:80:00:00:00:00:00:00:f4:52:14:03:00:7b:cb:a1"), IP: netip.MustParseAddr("10.213.0.201"), Hostname: "ib0", Expiry: time.Unix(1732463100, 0)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d leases, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.MAC.String() != w.MAC.String() || g.IP != w.IP || g.Hostname != w.Hostname || !g.Expiry.Equal(w.Expiry) {
			t.Errorf("lease %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestParseLeasesEmpty(t *testing.T) {
	got, err := ParseLeases(strings.NewReader(""))
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestParseLeasesErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1732462863 bc:24:11:3a:5f:01 10.213.0.131\n", "lease line 1: 3 fields"},
		{"\nsoon bc:24:11:3a:5f:01 10.213.0.131 * *\n", "lease line 2: expiry \"soon\""},
		{"1732462863 bc:24:11 10.213.0.131 * *\n", "hardware address \"bc:24:11\""},
		{"1732462863 zz-bc:24:11:3a:5f:01 10.213.0.131 * *\n", "bad type prefix"},
		{"1732462863 bc:24:11:3a:5f:01 fd00::1 * *\n", "\"fd00::1\" is not an IPv4 address"},
	} {
		_, err := ParseLeases(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseLeases(f *testing.F) {
	seed, err := os.ReadFile("testdata/dnsmasq.leases")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("0 * 10.0.0.1 * *\n")
	f.Fuzz(func(t *testing.T, in string) {
		leases, err := ParseLeases(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, l := range leases {
			if !l.IP.Is4() {
				t.Fatalf("non-IPv4 lease %+v", l)
			}
		}
	})
}
