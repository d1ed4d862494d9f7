package iscsitest

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestLockHeld(t *testing.T) {
	locks := "1: POSIX  ADVISORY  WRITE 17804 fe:00:9994371 0 EOF\n" +
		"2: FLOCK  ADVISORY  WRITE 4278 00:2d:3 0 EOF\n" +
		"3: POSIX  ADVISORY  WRITE 4278 fe:00:828064 0 0\n"
	for _, c := range []struct {
		pid  int
		ino  uint64
		want bool
	}{
		{4278, 828064, true},
		{4278, 3, false}, // a flock, not tgtd's lock
		{17804, 828064, false},
		{1, 9994371, false},
	} {
		if got := lockHeld(locks, c.pid, c.ino); got != c.want {
			t.Errorf("lockHeld(pid %d, ino %d) = %v, want %v", c.pid, c.ino, got, c.want)
		}
	}
}

// TestStart starts two targets on one tgtd and a second tgtd, and reads
// their LUNs back with libiscsi's iscsi-readcapacity16.
func TestStart(t *testing.T) {
	t.Parallel()
	a := Start(t, 4<<20, 8<<20)
	b := a.AddTarget(t, 1<<20)
	c := Start(t, 2<<20)
	if a.Portal == c.Portal || a.PID() == c.PID() {
		t.Fatalf("two Start calls share a server: %s (pid %d) and %s (pid %d)", a.Portal, a.PID(), c.Portal, c.PID())
	}
	if b.Portal != a.Portal || b.IQN == a.IQN {
		t.Fatalf("AddTarget = %s on %s, want a new IQN on %s", b.IQN, b.Portal, a.Portal)
	}
	if _, err := exec.LookPath("iscsi-readcapacity16"); err != nil {
		t.Skipf("libiscsi-bin is not installed: %v", err)
	}
	for _, tg := range []*Target{a, b, c} {
		for _, l := range tg.LUNs {
			out, err := exec.CommandContext(t.Context(), "iscsi-readcapacity16", "-s", tg.URL(l.Number)).CombinedOutput()
			if err != nil {
				t.Fatalf("iscsi-readcapacity16 %s: %v: %s", tg.URL(l.Number), err, out)
			}
			if got := string(bytes.TrimSpace(out)); got != strconv.FormatInt(l.Size, 10) {
				t.Errorf("%s: size %s, want %d", tg.URL(l.Number), got, l.Size)
			}
			if st, err := os.Stat(l.File); err != nil || st.Size() != l.Size {
				t.Errorf("backing file %s: %v, %v", l.File, st, err)
			}
		}
	}
}

// TestTakenPorts starts tgtd on the control port and then on the iSCSI
// port of a running one: both attempts must report a retryable conflict
// and leave the running server alone.
func TestTakenPorts(t *testing.T) {
	t.Parallel()
	a := Start(t, 1<<20)
	port, _ := strconv.Atoi(a.Portal[len("127.0.0.1:"):])
	free, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	if _, retry, err := tryStart(t, t.TempDir(), 0, free, a.srv.ctl); err == nil || !retry {
		t.Errorf("tryStart on a taken control port: retry %v, err %v; want a retryable error", retry, err)
	}
	other, err := randomControlPort()
	if err != nil {
		t.Fatal(err)
	}
	if other == a.srv.ctl {
		other++
	}
	if _, retry, err := tryStart(t, t.TempDir(), 0, port, other); err == nil || !retry {
		t.Errorf("tryStart on a taken iSCSI port: retry %v, err %v; want a retryable error", retry, err)
	}
	if err := a.srv.admin(t.Context(), "--mode", "target", "--op", "show"); err != nil {
		t.Errorf("the first server stopped answering: %v", err)
	}
	if _, err := os.Stat(a.srv.socket()); err != nil {
		t.Errorf("the first server's socket is gone: %v", err)
	}
}
