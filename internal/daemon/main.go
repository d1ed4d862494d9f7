package daemon

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"
)

// Main runs `hearth daemon [flags]` until SIGTERM or SIGINT and returns
// the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hearth daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	level := "info"
	fs.StringVar(&cfg.StateDir, "state-dir", "/var/lib/hearth", "directory for the node's state (cluster store, tasks, logs)")
	fs.StringVar(&cfg.Listen, "listen", "0.0.0.0:8006", "address and port of the HTTPS API")
	fs.StringVar(&cfg.Node, "node", "", "node name (default: the short host name)")
	fs.StringVar(&cfg.Socket, "socket", "", "root-only unix socket for the CLI (default: <state-dir>/hearth.sock)")
	fs.StringVar(&cfg.InitialPasswordFile, "initial-password-file", "", "file with the password of the first administrator, admin@pve (default: generate one)")
	fs.StringVar(&cfg.CFSMount, "cfs-mount", "/etc/hearth", "where to mount the configuration tree as a file system, or 'none'")
	fs.StringVar(&cfg.Address, "address", "", "address other nodes reach this node at (default: the listen address, or the host's first address)")
	fs.StringVar(&cfg.NetworkInterfaces, "network-interfaces", "/etc/network/interfaces", "the interfaces file the network API edits and applies")
	fs.StringVar(&cfg.NATNetwork, "nat-network", "none", "NAT network for guests: BRIDGE[,subnet=CIDR][,dns=0|1], or 'none'")
	fs.StringVar(&cfg.LocalStorage, "local-storage", "/var/lib/vz", "directory of the 'local' storage in a new cluster's storage.cfg")
	fs.StringVar(&cfg.MountRoot, "mount-root", "/mnt/pve", "where network storages are mounted")
	fs.StringVar(&cfg.RunDir, "run-dir", "/run/hearth", "runtime files of running guests (sockets, pid files); cleared by a reboot")
	gossipPort := fs.Int("gossip-port", 8007, "UDP and TCP port of cluster membership")
	fs.StringVar(&level, "log-level", level, "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hearth daemon [flags]\n\nRuns a Hearth node: the API on HTTPS and the local CLI socket.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hearth daemon: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		fmt.Fprintf(stderr, "hearth daemon: --log-level: %v\n", err)
		return 2
	}
	cfg.Stderr, cfg.Announce = stderr, stdout
	cfg.GossipPort = gossipPort
	if cfg.CFSMount == "none" {
		cfg.CFSMount = ""
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	d, err := New(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "hearth daemon: %v\n", err)
		return 1
	}
	if err := d.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "hearth daemon: %v\n", err)
		d.Shutdown(context.Background())
		return 1
	}
	<-ctx.Done()
	d.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintf(stderr, "hearth daemon: shutdown: %v\n", err)
		return 1
	}
	return 0
}
