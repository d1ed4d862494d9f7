package nfs

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage/nfs/netfs"
)

// mounter is the kernel client's side of an nfs storage.
type mounter struct {
	server, export, options string
	point                   string
	run                     runner.Runner
	dial                    netfs.DialFunc
}

func (m *mounter) Kind() string { return "NFS" }

// source is the mount source, "server:/export" ("[v6]:/export").
func (m *mounter) source() string { return netfs.BracketIPv6(m.server) + ":" + m.export }

// Mine: an nfs or nfs4 mount of the same server and export (the kernel
// may show the export with a trailing slash).
func (m *mounter) Mine(e netfs.Mount) bool {
	return strings.HasPrefix(e.FSType, "nfs") &&
		strings.TrimSuffix(e.Source, "/") == strings.TrimSuffix(m.source(), "/")
}

var (
	vers4RE = regexp.MustCompile(`vers=4`)
	portRE  = regexp.MustCompile(`(?:^|,)port=(\d+)`)
)

// Check asks the server as Proxmox VE does: showmount for NFSv3, whose
// MOUNT service lists the exports; rpcinfo for NFSv4, which has no
// export list, with a plain TCP connection to the NFS port as the last
// resort (some servers answer no RPC queries for v4).
func (m *mounter) Check(ctx context.Context) error {
	if !vers4RE.MatchString(m.options) {
		if _, err := m.run.Run(ctx, runner.Cmd{Name: "showmount", Args: []string{"--no-headers", "--exports", m.server}}); err != nil {
			return fmt.Errorf("NFS server %s does not answer: %w", m.server, err)
		}
		return nil
	}
	ip, err := resolve(ctx, m.server)
	if err != nil {
		return fmt.Errorf("NFS server %s: %w", m.server, err)
	}
	transport := "tcp"
	if ip.To4() == nil {
		transport = "tcp6"
	}
	_, rpcErr := m.run.Run(ctx, runner.Cmd{Name: "rpcinfo", Args: []string{"-T", transport, ip.String(), "nfs", "4"}})
	if rpcErr == nil {
		return nil
	}
	port := 2049
	if mm := portRE.FindStringSubmatch(m.options); mm != nil {
		port, _ = strconv.Atoi(mm[1])
	}
	if port == 0 {
		// port=0 asks rpcbind for the port, which rpcinfo just failed to.
		return fmt.Errorf("NFS server %s does not answer: %w", m.server, rpcErr)
	}
	if err := netfs.TCPPing(ctx, m.dial, ip.String(), port, 2*time.Second); err != nil {
		return fmt.Errorf("NFS server %s does not answer on port %d: %w (rpcinfo: %v)", m.server, port, err, rpcErr)
	}
	return nil
}

func resolve(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("host name %s has no address", host)
	}
	return addrs[0].IP, nil
}

// Mount runs mount -t nfs server:/export <point> [-o options].
func (m *mounter) Mount(ctx context.Context) error {
	args := []string{"-t", "nfs", m.source(), m.point}
	if m.options != "" {
		args = append(args, "-o", m.options)
	}
	_, err := m.run.Run(ctx, runner.Cmd{Name: "mount", Args: args})
	return err
}

// Export is one line of a server's export list.
type Export struct {
	Path    string // "/srv/nfs/pve"
	Clients string // "10.0.0.0/24,192.168.1.5" or "(everyone)"
}

var exportRE = regexp.MustCompile(`^(/\S*)\s+(.+)$`)

// Scan lists the exports of server (pvesm scan nfs), from
// showmount --no-headers --exports.
func Scan(ctx context.Context, r runner.Runner, server string) ([]Export, error) {
	ctx, cancel := context.WithTimeout(ctx, netfs.CheckTimeout)
	defer cancel()
	res, err := r.Run(ctx, runner.Cmd{Name: "showmount", Args: []string{"--no-headers", "--exports", server}})
	if err != nil {
		return nil, fmt.Errorf("scan NFS server %s: %w", server, err)
	}
	return parseShowmount(string(res.Stdout)), nil
}

func parseShowmount(out string) []Export {
	var exports []Export
	for _, line := range strings.Split(out, "\n") {
		if m := exportRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			exports = append(exports, Export{Path: m[1], Clients: m[2]})
		}
	}
	return exports
}
