package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// These tests give the node a network namespace of their own, with veth
// pairs standing in for NICs (this kernel has no dummy links), and an
// interfaces file in a temporary directory: nothing touches the host's
// network. Addresses are from 10.99.0.0/16, which only exists inside
// those namespaces.

// testNetNS creates a network namespace with the named veth "NICs" and
// returns its path and a netlink handle in it.
func testNetNS(t *testing.T, nics ...string) (string, *netlink.Handle) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the network tests need root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("skipping: the network tests need ip (iproute2): %v", err)
	}
	var b [4]byte
	rand.Read(b[:])
	name := "hearth-dnet-" + hex.EncodeToString(b[:])
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("delete namespace %s: %v\n%s", name, err, out)
		}
	})
	ip("-n", name, "link", "set", "lo", "up")
	for _, n := range nics {
		ip("-n", name, "link", "add", n, "type", "veth", "peer", "name", n+"p")
		ip("-n", name, "link", "set", n+"p", "up")
	}
	path := filepath.Join("/run/netns", name)
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return path, h
}

// startNetworkDaemon starts a node whose network service works in a test
// namespace on a file of the test's own.
func startNetworkDaemon(t *testing.T, nat string, nics ...string) (*testDaemon, *netlink.Handle, string, map[string]string) {
	t.Helper()
	nsPath, h := testNetNS(t, nics...)
	file := filepath.Join(t.TempDir(), "interfaces")
	if err := os.WriteFile(file, []byte("auto lo\niface lo inet loopback\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	td := startDaemon(t, "alpha", func(c *Config) {
		c.NetworkInterfaces, c.NetworkNamespace, c.NATNetwork = file, nsPath, nat
	})
	return td, h, file, td.login(t)
}

func form(kv ...string) *strings.Reader {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode())
}

func withForm(auth map[string]string) map[string]string {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range auth {
		h[k] = v
	}
	return h
}

// applyNetwork applies the pending configuration through the API and
// returns the task's exit status and log.
func (td *testDaemon) applyNetwork(t *testing.T, auth map[string]string) (string, string) {
	t.Helper()
	r := td.call(t, "PUT", "/nodes/alpha/network", nil, auth)
	upid, _ := r.body["data"].(string)
	if r.code != 200 || !strings.Contains(upid, ":srvreload:networking:") {
		t.Fatalf("apply: %s %s", r.status, r.raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := td.tasks.Wait(ctx, upid)
	if err != nil {
		t.Fatal(err)
	}
	r = td.call(t, "GET", "/nodes/alpha/tasks/"+url.PathEscape(upid)+"/log?limit=1000", nil, auth)
	var log []string
	for _, l := range r.body["data"].([]any) {
		log = append(log, l.(map[string]any)["t"].(string))
	}
	return st.ExitStatus, strings.Join(log, "\n")
}

func listIfaces(t *testing.T, td *testDaemon, auth map[string]string, query string) (map[string]map[string]any, string) {
	t.Helper()
	r := td.call(t, "GET", "/nodes/alpha/network"+query, nil, auth)
	if r.code != 200 {
		t.Fatalf("list: %s %s", r.status, r.raw)
	}
	out := map[string]map[string]any{}
	for _, it := range r.body["data"].([]any) {
		m := it.(map[string]any)
		out[m["iface"].(string)] = m
	}
	changes, _ := r.body["changes"].(string)
	return out, changes
}

func TestNetworkCreateApplyDeleteBridgeInANamespace(t *testing.T) {
	start := time.Now()
	td, h, file, auth := startNetworkDaemon(t, "", "enp9s0")
	ifs, changes := listIfaces(t, td, auth, "")
	if _, ok := ifs["lo"]; ok || changes != "" {
		t.Fatalf("fresh list: loopback listed or changes pending: %v %q", ifs, changes)
	}

	r := td.call(t, "POST", "/nodes/alpha/network", form("iface", "vmbr9", "type", "bridge", "bridge_ports", "enp9s0",
		"cidr", "10.99.7.1/24", "autostart", "1", "comments", "test bridge"), withForm(auth))
	if r.code != 200 {
		t.Fatalf("create: %s %s", r.status, r.raw)
	}
	ifs, changes = listIfaces(t, td, auth, "?type=bridge")
	if ifs["vmbr9"]["cidr"] != "10.99.7.1/24" || ifs["vmbr9"]["bridge_ports"] != "enp9s0" {
		t.Fatalf("listed bridge: %v", ifs["vmbr9"])
	}
	for _, want := range []string{"--- " + file, "+++ " + file + ".new", "+auto vmbr9", "+iface vmbr9 inet static", "+\taddress 10.99.7.1/24", "+\tbridge-ports enp9s0", "+#test bridge"} {
		if !strings.Contains(changes, want) {
			t.Errorf("changes lack %q:\n%s", want, changes)
		}
	}
	if r := td.call(t, "GET", "/nodes/alpha/network/vmbr9", nil, auth); r.code != 200 || r.body["data"].(map[string]any)["type"] != "bridge" {
		t.Fatalf("get: %s %s", r.status, r.raw)
	}
	if _, err := h.LinkByName("vmbr9"); err == nil {
		t.Fatal("vmbr9 exists before the configuration was applied")
	}

	if status, log := td.applyNetwork(t, auth); status != "OK" {
		t.Fatalf("apply: %s\n%s", status, log)
	}
	br, err := h.LinkByName("vmbr9")
	if err != nil {
		t.Fatalf("after apply: %v", err)
	}
	if br.Type() != "bridge" || br.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("vmbr9: type %s flags %v", br.Type(), br.Attrs().Flags)
	}
	addrs, _ := h.AddrList(br, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.99.7.1/24" {
		t.Fatalf("vmbr9 addresses: %v", addrs)
	}
	port, _ := h.LinkByName("enp9s0")
	if port.Attrs().MasterIndex != br.Attrs().Index {
		t.Fatal("enp9s0 is not a port of vmbr9")
	}
	if data, _ := os.ReadFile(file); !strings.Contains(string(data), "iface vmbr9 inet static") {
		t.Fatalf("the file was not replaced:\n%s", data)
	}
	if _, err := os.Stat(file + ".new"); !os.IsNotExist(err) {
		t.Fatalf("interfaces.new still there: %v", err)
	}
	if _, changes := listIfaces(t, td, auth, ""); changes != "" {
		t.Fatalf("changes after apply: %q", changes)
	}

	if r := td.call(t, "DELETE", "/nodes/alpha/network/vmbr9", nil, auth); r.code != 200 {
		t.Fatalf("delete: %s %s", r.status, r.raw)
	}
	if _, changes := listIfaces(t, td, auth, ""); !strings.Contains(changes, "-iface vmbr9 inet static") {
		t.Fatalf("changes after delete: %q", changes)
	}
	if status, log := td.applyNetwork(t, auth); status != "OK" {
		t.Fatalf("apply the deletion: %s\n%s", status, log)
	}
	if _, err := h.LinkByName("vmbr9"); err == nil {
		t.Fatal("vmbr9 still exists after its deletion was applied")
	}
	if port, _ := h.LinkByName("enp9s0"); port == nil || port.Attrs().MasterIndex != 0 {
		t.Fatal("enp9s0 should be there and in no bridge")
	}
	t.Logf("create, apply, delete, apply: %v", time.Since(start))
}

func TestNetworkRefusesBadInputNamingTheField(t *testing.T) {
	td, _, file, auth := startNetworkDaemon(t, "", "enp8s0", "enp9s0")
	post := func(kv ...string) result {
		t.Helper()
		return td.call(t, "POST", "/nodes/alpha/network", form(kv...), withForm(auth))
	}
	for _, ok := range [][]string{
		{"iface", "bond0", "type", "bond", "slaves", "enp8s0"},
		{"iface", "vmbr7", "type", "bridge", "cidr", "10.99.8.1/24", "gateway", "10.99.8.254"},
	} {
		if r := post(ok...); r.code != 200 {
			t.Fatalf("create %v: %s %s", ok, r.status, r.raw)
		}
	}
	tests := []struct {
		name  string
		req   []string
		field string
	}{
		{"bridge port already a bond slave", []string{"iface", "vmbr8", "type", "bridge", "bridge_ports", "enp8s0"}, "bridge_ports"},
		{"second gateway", []string{"iface", "vmbr6", "type", "bridge", "cidr", "10.99.9.1/24", "gateway", "10.99.9.254"}, "gateway"},
		{"vlan on a missing device", []string{"iface", "vlan5", "type", "vlan", "vlan-raw-device", "enp7s0", "vlan-id", "5"}, "vlan-raw-device"},
		{"duplicate address", []string{"iface", "vmbr5", "type", "bridge", "cidr", "10.99.8.1/24"}, "cidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(tt.req...)
			errs, _ := r.body["errors"].(map[string]any)
			if r.code != 400 || errs[tt.field] == nil {
				t.Fatalf("want 400 naming %s: %s %s", tt.field, r.status, r.raw)
			}
		})
	}
	if r := td.call(t, "PUT", "/nodes/alpha/network/nosuch0", form("type", "bridge"), withForm(auth)); r.code != 400 || !strings.Contains(r.raw, "does not exist") {
		t.Fatalf("update of a missing interface: %s %s", r.status, r.raw)
	}

	if _, err := os.Stat(file + ".new"); err != nil {
		t.Fatalf("pending file: %v", err)
	}
	if r := td.call(t, "DELETE", "/nodes/alpha/network", nil, auth); r.code != 200 {
		t.Fatalf("revert: %s %s", r.status, r.raw)
	}
	if _, err := os.Stat(file + ".new"); !os.IsNotExist(err) {
		t.Fatalf("interfaces.new after revert: %v", err)
	}
	if ifs, changes := listIfaces(t, td, auth, ""); changes != "" || ifs["bond0"] != nil {
		t.Fatalf("after revert: %v %q", ifs, changes)
	}
}

func TestNetworkApplyFailureRollsBackAndKeepsThePendingFile(t *testing.T) {
	td, h, file, auth := startNetworkDaemon(t, "", "enp9s0")
	// A hand-edited pending file whose last change the kernel refuses: a
	// veth cannot take an MTU above 65535. The bridge made before it must
	// be gone again afterwards.
	bad := "auto lo\niface lo inet loopback\n\nauto enp9s0\niface enp9s0 inet manual\n\tmtu 70000\n\n" +
		"auto vmbr9\niface vmbr9 inet static\n\taddress 10.99.7.1/24\n\tbridge-ports enp9s0\n\tbridge-stp off\n\tbridge-fd 0\n"
	if err := os.WriteFile(file+".new", []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	status, log := td.applyNetwork(t, auth)
	if status == "OK" || !strings.Contains(log, "failed") {
		t.Fatalf("apply of a refused MTU: %s\n%s", status, log)
	}
	if !strings.Contains(status, "every change was undone") {
		t.Fatalf("exit status does not say the changes were undone: %s\n%s", status, log)
	}
	if _, err := h.LinkByName("vmbr9"); err == nil {
		t.Fatalf("vmbr9 survived the rollback\n%s", log)
	}
	if _, err := os.Stat(file + ".new"); err != nil {
		t.Fatalf("the pending file is gone after a failed apply: %v", err)
	}
	t.Logf("exit status: %s\n%s", status, log)
}

func TestNetworkNATNetworkLeasesThroughTheAPI(t *testing.T) {
	for _, bin := range []string{"nft", "dnsmasq", "busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("skipping: the NAT network test needs %s: %v", bin, err)
		}
	}
	td, _, _, auth := startNetworkDaemon(t, "hearthnat9,subnet=10.99.50.0/24,dns=0")
	t.Cleanup(func() {
		// Shutdown only releases the network (guests would keep it); the
		// test's dnsmasq must go.
		if err := td.network.StopNAT(context.Background()); err != nil {
			t.Errorf("stop the NAT network: %v", err)
		}
	})
	r := td.call(t, "GET", "/nodes/alpha/hearth/nat", nil, auth)
	st, _ := r.body["data"].(map[string]any)
	if r.code != 200 || st["state"] != "up" || st["gateway"] != "10.99.50.1" || st["bridge"] != "hearthnat9" {
		t.Fatalf("NAT status: %s %s", r.status, r.raw)
	}
	if ifs, _ := listIfaces(t, td, auth, "?type=any_bridge"); ifs["hearthnat9"] == nil {
		t.Fatalf("the NAT bridge is not offered to guests: %v", ifs)
	}
	r = td.call(t, "POST", "/nodes/alpha/network", form("iface", "hearthnat9", "type", "bridge"), withForm(auth))
	if errs, _ := r.body["errors"].(map[string]any); r.code != 400 || errs["iface"] == nil {
		t.Fatalf("the interfaces file may claim the NAT bridge: %s %s", r.status, r.raw)
	}

	// A guest: a namespace whose eth0 is plugged into the NAT bridge.
	guest, _ := testNetNS(t)
	guestName := filepath.Base(guest)
	nsName := filepath.Base(td.cfg.NetworkNamespace)
	for _, args := range [][]string{
		{"-n", nsName, "link", "add", "veth100i0", "type", "veth", "peer", "name", "eth0", "netns", guestName},
		{"-n", nsName, "link", "set", "veth100i0", "master", "hearthnat9", "up"},
		{"-n", guestName, "link", "set", "eth0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// -q: leave once bound; the script configures nothing, the lease is
	// what the test looks for.
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", guestName, "busybox", "udhcpc", "-i", "eth0",
		"-n", "-q", "-f", "-t", "10", "-T", "1", "-x", "hostname:guest100", "-s", "/bin/true").CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc in the guest: %v\n%s", err, out)
	}
	guestLink, err := exec.Command("ip", "-n", guestName, "-br", "link", "show", "eth0").Output()
	if err != nil {
		t.Fatal(err)
	}
	mac := strings.Fields(string(guestLink))[2]
	// dnsmasq writes the lease file after it answered; poll the API.
	var leases []any
	for deadline := time.Now().Add(10 * time.Second); ; {
		r = td.call(t, "GET", "/nodes/alpha/hearth/nat/leases", nil, auth)
		leases, _ = r.body["data"].([]any)
		if r.code == 200 && len(leases) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lease through the API: %s %s", r.status, r.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	l := leases[0].(map[string]any)
	if l["mac"] != mac || l["hostname"] != "guest100" || !strings.HasPrefix(fmt.Sprint(l["ip"]), "10.99.50.") || l["expiry"].(float64) < float64(time.Now().Unix()) {
		t.Fatalf("lease %v, want one for %s", l, mac)
	}
}

func TestNetworkNodeStartsWhenTheNATNetworkCannot(t *testing.T) {
	// A link of the bridge's name that is not a bridge keeps the NAT
	// network from coming up.
	td, _, _, auth := startNetworkDaemon(t, "hearthnat8,subnet=10.99.51.0/24", "hearthnat8")
	r := td.call(t, "GET", "/nodes/alpha/hearth/nat", nil, auth)
	st, _ := r.body["data"].(map[string]any)
	if r.code != 200 || st["state"] != "down" || st["error"] == nil {
		t.Fatalf("NAT status: %s %s", r.status, r.raw)
	}
	r = td.call(t, "GET", "/nodes/alpha/hearth/nat/leases", nil, auth)
	if r.code != 500 || !strings.Contains(r.status, "down") {
		t.Fatalf("leases of a network that is down: %s %s", r.status, r.raw)
	}
	if r := td.call(t, "GET", "/nodes/alpha/network", nil, auth); r.code != 200 {
		t.Fatalf("the rest of the network API: %s %s", r.status, r.raw)
	}
}

func TestNATNetworkFlag(t *testing.T) {
	tests := []struct {
		spec, want, err string
	}{
		{spec: "none"},
		{spec: ""},
		{spec: "hearthnat0", want: "hearthnat0 invalid Prefix dns=true"},
		{spec: "natbr1,subnet=10.99.60.7/24,dns=0", want: "natbr1 10.99.60.0/24 dns=false"},
		{spec: "nat.1", err: "not a bridge name"},
		{spec: "averyveryverylongbridge", err: "not a bridge name"},
		{spec: "natbr1,subnet=2001:db8::/64", err: "IPv4 network"},
		{spec: "natbr1,subnet=10.99.60.0/30", err: "at least 8 addresses"},
		{spec: "natbr1,dns=maybe", err: "dns="},
		{spec: "natbr1,mtu=1400", err: "unknown option"},
	}
	for _, tt := range tests {
		cfg, err := parseNATNetwork(tt.spec, "/state")
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want one about %q", tt.spec, err, tt.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tt.spec, err)
		case tt.want == "" && cfg != nil:
			t.Errorf("%q: a NAT network %+v, want none", tt.spec, cfg)
		case tt.want != "":
			if got := fmt.Sprintf("%s %s dns=%v", cfg.Bridge, cfg.Subnet, cfg.DNS); got != tt.want || cfg.StateDir != "/state/nat/"+cfg.Bridge {
				t.Errorf("%q: %s in %s, want %s", tt.spec, got, cfg.StateDir, tt.want)
			}
		}
	}
}
