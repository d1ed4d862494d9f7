package hook

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrorFile is where a failing hook leaves its message, next to the
// plan, so that the start task can say why LXC gave up.
const ErrorFile = "hook-error"

// Main runs one hook. LXC calls `hearth lxc-hook <event> <name> <section>
// <type> [<device>]` with the container's configuration file in
// LXC_CONFIG_FILE; events are pre-start, post-stop and net-up.
func Main(args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: hearth lxc-hook pre-start|post-stop|net-up <container> ...")
		return 2
	}
	config := getenv("LXC_CONFIG_FILE")
	if config == "" {
		fmt.Fprintln(stderr, "lxc-hook: LXC_CONFIG_FILE is not set; hooks run from lxc-start only")
		return 2
	}
	err := run(args[0], args[1:], config)
	if err != nil {
		msg := fmt.Sprintf("%s hook: %v", args[0], err)
		fmt.Fprintln(stderr, msg)
		_ = os.WriteFile(filepath.Join(filepath.Dir(config), ErrorFile), []byte(msg+"\n"), 0o600)
		return 1
	}
	return 0
}

func run(event string, rest []string, config string) error {
	p, err := Read(config)
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch event {
	case "pre-start":
		if err := MountAll(p); err != nil {
			return err
		}
		if p.Setup != nil {
			if err := ApplySetup(p); err != nil {
				return fmt.Errorf("set up the system inside: %w", err)
			}
		}
		return nil
	case "post-stop":
		return UnmountAll(p.Root)
	case "net-up":
		// LXC appends: <name> net up veth <host device>.
		if len(rest) == 0 {
			return fmt.Errorf("no device name given")
		}
		return NetUp(ctx, p, rest[len(rest)-1])
	}
	return fmt.Errorf("unknown hook %q: expected pre-start, post-stop or net-up", event)
}
