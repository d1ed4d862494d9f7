package ct

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/api"
)

func TestRunCapped(t *testing.T) {
	for _, tc := range []struct {
		name  string
		argv  []string
		input string
		max   int
		want  api.CTExecResult
	}{
		{name: "exit code", argv: []string{"sh", "-c", "exit 7"}, max: 100, want: api.CTExecResult{ExitCode: 7}},
		{name: "streams apart", argv: []string{"sh", "-c", "echo out; echo err >&2"}, max: 100,
			want: api.CTExecResult{OutData: "out\n", ErrData: "err\n"}},
		{name: "input", argv: []string{"cat"}, input: "line 1\nline 2", max: 100, want: api.CTExecResult{OutData: "line 1\nline 2"}},
		{name: "no input", argv: []string{"cat"}, max: 100, want: api.CTExecResult{}},
		{name: "killed by a signal", argv: []string{"sh", "-c", "kill -9 $$"}, max: 100, want: api.CTExecResult{ExitCode: 137}},
		{name: "output cut", argv: []string{"sh", "-c", "head -c 5000 /dev/zero | tr '\\0' o; echo short >&2; exit 3"}, max: 1000,
			want: api.CTExecResult{ExitCode: 3, OutData: strings.Repeat("o", 1000), OutTruncated: true, ErrData: "short\n"}},
		{name: "exactly the cap", argv: []string{"printf", "12345"}, max: 5, want: api.CTExecResult{OutData: "12345"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runCapped(t.Context(), tc.argv, tc.input, 10*time.Second, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestRunCappedTimeoutKillsEverything(t *testing.T) {
	// The background sleep stands for the program lxc-attach started in
	// the container, which outlives lxc-attach when only that is killed.
	res, err := runCapped(t.Context(), []string{"sh", "-c", "sleep 60 & echo $!; wait"}, "", 200*time.Millisecond, 100)
	if !errors.Is(err, errExecTimeout) {
		t.Fatalf("error %v, want a timeout", err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(res.OutData))
	if perr != nil {
		t.Fatalf("output %q: %v", res.OutData, perr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d in the command's group survived the timeout", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie is dead).
func processAlive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(data), ") ")
	return !strings.HasPrefix(after, "Z")
}

func TestRunCappedWithoutTimeoutAndMissingProgram(t *testing.T) {
	if res, err := runCapped(t.Context(), []string{"true"}, "", 0, 10); err != nil || res.ExitCode != 0 {
		t.Errorf("no timeout: %+v, %v", res, err)
	}
	if _, err := runCapped(t.Context(), []string{"/nonexistent/program"}, "", time.Second, 10); err == nil {
		t.Error("a missing program ran")
	}
}

func TestLXCArgv(t *testing.T) {
	s := &Service{o: Options{LXCPath: "/run/hearth/lxc"}}
	if got := strings.Join(s.lxcArgv("lxc-attach", 101, "--", "ls"), " "); got != "lxc-attach -n 101 -P /run/hearth/lxc -- ls" {
		t.Errorf("without a namespace: %s", got)
	}
	s.o.NetNS = "/run/netns/n1"
	if got := strings.Join(s.lxcArgv("lxc-console", 101), " "); got != "nsenter --net=/run/netns/n1 -- lxc-console -n 101 -P /run/hearth/lxc" {
		t.Errorf("in a namespace: %s", got)
	}
}

func TestExecRefusesBadInputFirst(t *testing.T) {
	s := &Service{}
	for _, in := range []api.CTExecParams{
		{VMID: 100},
		{VMID: 100, Command: []string{""}},
		{VMID: 100, Command: []string{"cat"}, InputData: strings.Repeat("x", api.CTExecInputMax+1)},
	} {
		_, err := s.execCT(t.Context(), &api.Call{}, &in)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != 400 {
			t.Errorf("command %q with %d bytes of input: %v", in.Command, len(in.InputData), err)
		}
	}
}
