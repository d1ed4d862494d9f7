package witness

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hearth-virt/hearth/internal/logbook"
)

// Main runs `hearth witness [flags]` until SIGTERM or SIGINT.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hearth witness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	level := "info"
	fs.StringVar(&cfg.Listen, "listen", "0.0.0.0:8006", "address and port the cluster reaches the witness at")
	fs.StringVar(&cfg.StateDir, "state-dir", "/var/lib/hearth-witness", "directory for the witness's state")
	fs.StringVar(&cfg.Name, "name", "witness", "name of the witness in the cluster")
	fs.StringVar(&level, "log-level", level, "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hearth witness [flags]\n\nRuns a witness: a voter without guests or API that keeps a two-node cluster\nquorate when one node fails. Add it to the cluster with 'pvecm qdevice setup'.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		fmt.Fprintf(stderr, "hearth witness: --log-level: %v\n", err)
		return 2
	}
	book, err := logbook.Open(logbook.Options{Dir: filepath.Join(cfg.StateDir, "log"), Node: cfg.Name, Stderr: stderr, Level: lvl})
	if err != nil {
		fmt.Fprintf(stderr, "hearth witness: %v\n", err)
		return 1
	}
	defer book.Close()
	cfg.Logger, cfg.Announce = slog.New(book.Handler()), stdout
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	w, err := Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "hearth witness: %v\n", err)
		return 1
	}
	<-ctx.Done()
	if err := w.Close(); err != nil {
		fmt.Fprintf(stderr, "hearth witness: %v\n", err)
		return 1
	}
	return 0
}
