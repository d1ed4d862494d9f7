package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// Commands that are more than one call (api.Command.Client): the tool
// repeats or follows up the call itself, as Proxmox VE's qm does.

// localBool reads a boolean option of the running command.
func (r *run) localBool(name string, def bool) bool {
	v, ok := r.local.Get(name)
	if !ok {
		return def
	}
	b, err := schema.ParseBool(v)
	if err != nil {
		return def
	}
	return b
}

// localInt reads an integer option of the running command.
func (r *run) localInt(name string, def int) int {
	v, ok := r.local.Get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

// stdinMax bounds what --pass-stdin sends: the guest agent's exec and
// the container's exec take the same.
const stdinMax = api.CTExecInputMax

// passStdin sends standard input as the program's input with
// --pass-stdin.
func (r *run) passStdin(raw schema.Raw) error {
	if !r.localBool("pass-stdin", false) || r.env.Stdin == nil {
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(r.env.Stdin, stdinMax+1))
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	if len(data) > stdinMax {
		return fmt.Errorf("standard input is larger than the %d KiB --pass-stdin can send", stdinMax>>10)
	}
	raw.Set("input-data", string(data))
	return nil
}

// prepareClient does a client procedure's local work that must succeed
// before the call: reading standard input, checking where a file goes.
func (r *run) prepareClient(cmd *api.Command, raw schema.Raw) error {
	switch cmd.Client {
	case "guest-exec", "ct-exec":
		return r.passStdin(raw)
	case "ct-pull":
		t, err := newPullTarget(r.local, raw)
		r.pull = t
		return err
	}
	return nil
}

func (r *run) clientProc(ctx context.Context, c Client, cmd *api.Command, path string, sent schema.Raw, data json.RawMessage) int {
	switch cmd.Client {
	case "wait":
		return r.waitStopped(ctx, c, path, sent, data)
	case "guest-exec":
		return r.guestExec(ctx, c, path, data)
	case "terminal":
		return r.terminal(ctx, c, path, sent, data)
	case "monitor":
		return r.fail(r.printResult(nil, cmd, data))
	case "ct-exec":
		return r.ctExec(data)
	case "ct-pull":
		return r.ctPull(data)
	}
	return r.fail(fmt.Errorf("unknown client procedure %q", cmd.Client))
}

// waitStopped repeats a status call until the guest has stopped, or
// fails after --timeout seconds (0: wait as long as it takes).
func (r *run) waitStopped(ctx context.Context, c Client, path string, sent schema.Raw, data json.RawMessage) int {
	if t := r.localInt("timeout", 0); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var st struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return r.fail(fmt.Errorf("reading the guest's status: %w", err))
		}
		if st.Status == "stopped" {
			return exitOK
		}
		select {
		case <-ctx.Done():
			return r.fail(fmt.Errorf("timeout while waiting for the guest to stop"))
		case <-tick.C:
		}
		res, err := c.Do(ctx, http.MethodGet, path, sent)
		if err != nil {
			if ctx.Err() != nil {
				return r.fail(fmt.Errorf("timeout while waiting for the guest to stop"))
			}
			return r.fail(err)
		}
		data = res.Data
	}
}

// guestExec follows a program started through the guest agent: with
// --synchronous (the default) it polls exec-status until the program has
// ended or --timeout seconds passed, then prints the status as JSON.
func (r *run) guestExec(ctx context.Context, c Client, path string, data json.RawMessage) int {
	var started struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(data, &started); err != nil {
		return r.fail(fmt.Errorf("reading the agent's answer: %w", err))
	}
	if !r.localBool("synchronous", true) {
		return r.printJSON(map[string]any{"pid": started.PID})
	}
	timeout := r.localInt("timeout", 30)
	statusPath := strings.TrimSuffix(path, "/exec") + "/exec-status"
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	for {
		res, err := c.Do(ctx, http.MethodGet, statusPath, schema.Raw{"pid": {strconv.Itoa(started.PID)}})
		if err != nil {
			return r.fail(err)
		}
		var st map[string]any
		if err := json.Unmarshal(res.Data, &st); err != nil {
			return r.fail(fmt.Errorf("reading the program's status: %w", err))
		}
		if exited, _ := st["exited"].(float64); exited == 1 {
			return r.printJSON(st)
		}
		if timeout > 0 && time.Now().After(deadline) {
			r.printJSON(map[string]any{"pid": started.PID, "exited": 0})
			return r.fail(fmt.Errorf("timeout: program %d still runs in the guest", started.PID))
		}
		select {
		case <-ctx.Done():
			return r.fail(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// monitorLoop is qm monitor without a command: it reads monitor commands
// line by line and prints what each printed, until "quit" (which leaves
// the loop, not the VM) or the end of the input.
func (r *run) monitorLoop(ctx context.Context, c *toolCmd, raw schema.Raw, usage func(io.Writer)) int {
	vmid, _ := raw.Get("vmid")
	interactive := r.env.IsTerminal(r.env.Stdin)
	if interactive {
		fmt.Fprintf(r.stdout, "Entering QEMU monitor of VM %s; 'help' lists commands, 'quit' leaves.\n", vmid)
	}
	if r.env.Stdin == nil {
		return exitOK
	}
	in := bufio.NewScanner(r.env.Stdin)
	code := exitOK
	for {
		if interactive {
			fmt.Fprint(r.stdout, "qm> ")
		}
		if !in.Scan() {
			return code
		}
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "quit", "q":
			return code
		}
		raw.Set("command", line)
		if rc := r.call(ctx, c.ep, c.cmd, raw, usage); rc != exitOK {
			code = rc
		}
	}
}

// printJSON prints a value as indented JSON, as qm does for guest exec.
func (r *run) printJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "   ")
	if err != nil {
		return r.fail(err)
	}
	fmt.Fprintln(r.stdout, string(b))
	return exitOK
}
