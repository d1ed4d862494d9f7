// Command hearth is the single Hearth binary: the node daemon
// (`hearth daemon`), the cluster witness (`hearth witness`) and every
// command-line tool. Installed under a tool's
// name (qm, pvesh, pvenode, ...) it runs that tool directly.
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/apidoc"
	"github.com/hearth-virt/hearth/internal/cli"
	"github.com/hearth-virt/hearth/internal/daemon"
	"github.com/hearth-virt/hearth/internal/lxc/hook"
	"github.com/hearth-virt/hearth/internal/witness"
)

func main() {
	if filepath.Base(os.Args[0]) == "hearth" && len(os.Args) > 1 {
		switch os.Args[1] {
		case "daemon":
			os.Exit(daemon.Main(os.Args[2:], os.Stdout, os.Stderr))
		case "witness":
			os.Exit(witness.Main(os.Args[2:], os.Stdout, os.Stderr))
		case "lxc-hook":
			os.Exit(hook.Main(os.Args[2:], os.Getenv, os.Stderr))
		}
	}
	// Ctrl-C stops following a task; the task itself keeps running.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	env := cli.OSEnv(api.All())
	env.Schema = func(eps []*api.Endpoint) any { return apidoc.PVESchema(eps) }
	code := cli.Main(ctx, os.Args, env)
	stop()
	os.Exit(code)
}
