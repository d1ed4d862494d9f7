package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, a *fakeAgent, opts Options) *Client {
	c := New(a.path, opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// reply is a handler answering from a table of raw JSON return values.
func reply(table map[string]string) handler {
	return func(cmd string, _ json.RawMessage) (any, *Error, bool) {
		r, ok := table[cmd]
		if !ok {
			return nil, &Error{"CommandNotFound", "The command " + cmd + " has not been found"}, true
		}
		return json.RawMessage(r), nil, true
	}
}

func TestSyncSkipsStaleDataAndOldSyncReplies(t *testing.T) {
	a := newFakeAgent(t, false, reply(map[string]string{"guest-get-host-name": `{"host-name": "web1"}`}))
	// What a previous client can leave behind: a whole reply, the tail of
	// one, an earlier sync's delimited answer, and a reply cut off by the
	// delimiter.
	a.addStale(`{"return": {"host-name": "stale"}}` + "\n")
	a.addStale(`ost-name": "stale2"}}` + "\n")
	a.addStale("\xff" + `{"return": 12345}` + "\n")
	a.addStale(`{"return": {"host-na`)
	c := newClient(t, a, Options{})
	name, err := c.HostName(testCtx(t))
	if err != nil || name != "web1" {
		t.Fatalf("HostName = %q, %v", name, err)
	}
	if got := a.seen(); !slices.Equal(got, []string{"guest-get-host-name"}) {
		t.Errorf("agent saw %v", got)
	}
}

func TestSilentAgentIsNotRunning(t *testing.T) {
	a := newFakeAgent(t, true, nil)
	c := newClient(t, a, Options{SyncTimeout: 100 * time.Millisecond})
	start := time.Now()
	err := c.Ping(testCtx(t))
	if err != ErrNotRunning || err.Error() != "QEMU guest agent is not running" {
		t.Fatalf("Ping on a silent agent = %v, want exactly ErrNotRunning", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("not-running detection took %v with a 100ms sync timeout", d)
	}
	if len(a.seen()) != 0 {
		t.Errorf("the command was sent although the sync failed: %v", a.seen())
	}
}

func TestCancelledContextIsNotReportedAsNotRunning(t *testing.T) {
	a := newFakeAgent(t, true, nil)
	c := newClient(t, a, Options{SyncTimeout: 5 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := c.Ping(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a cancelled ctx = %v, want context.Canceled", err)
	}
}

func TestMissingSocketIsAConnectError(t *testing.T) {
	c := New(t.TempDir()+"/none.sock", Options{})
	err := c.Ping(testCtx(t))
	if err == nil || errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "none.sock") {
		t.Fatalf("Ping without a socket = %v", err)
	}
}

func TestAgentErrorKeepsItsText(t *testing.T) {
	a := newFakeAgent(t, false, func(cmd string, _ json.RawMessage) (any, *Error, bool) {
		return nil, &Error{"GenericError", "failed to freeze /: Device or resource busy"}, true
	})
	c := newClient(t, a, Options{})
	_, err := c.FSFreezeFreeze(testCtx(t))
	var aerr *Error
	if !errors.As(err, &aerr) || err.Error() != "failed to freeze /: Device or resource busy" {
		t.Fatalf("FSFreezeFreeze = %v (%T)", err, err)
	}
}

func TestCommandTimeoutRecoversOnNextCall(t *testing.T) {
	var a *fakeAgent
	a = newFakeAgent(t, false, func(cmd string, _ json.RawMessage) (any, *Error, bool) {
		if cmd == "guest-fstrim" {
			// The answer arrives only after the caller gave up, in front of
			// the next sync answer.
			a.addStale(`{"return": {"paths": [{"path": "/late"}]}}` + "\n")
			return nil, nil, false
		}
		return json.RawMessage(`{}`), nil, true
	})
	c := newClient(t, a, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.FSTrim(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("FSTrim without answer = %v", err)
	}
	if err := c.Ping(testCtx(t)); err != nil {
		t.Fatalf("Ping after a timed-out call: %v", err)
	}
}

func TestConnectionIsReusedAndRedialledAfterLoss(t *testing.T) {
	a := newFakeAgent(t, false, func(cmd string, _ json.RawMessage) (any, *Error, bool) {
		return json.RawMessage(`{}`), nil, true
	})
	c := newClient(t, a, Options{})
	ctx := testCtx(t)
	for range 3 {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.mu.Lock()
	conns := a.conns
	a.mu.Unlock()
	if conns != 1 {
		t.Errorf("3 calls used %d connections, want 1", conns)
	}
	// The peer goes away (QEMU restarted the chardev); the next call must
	// notice and reconnect rather than fail.
	a.hangup()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping after the connection broke: %v", err)
	}
	a.mu.Lock()
	conns = a.conns
	a.mu.Unlock()
	if conns != 2 {
		t.Errorf("after the break %d connections were made in all, want 2", conns)
	}
}

func TestTypedCallsDecodeAgentReplies(t *testing.T) {
	var mu sync.Mutex
	gotArgs := map[string]string{}
	table := map[string]string{
		"guest-info":       `{"version": "7.2.0", "supported_commands": [{"enabled": true, "name": "guest-ping", "success-response": true}, {"enabled": true, "name": "guest-shutdown", "success-response": false}]}`,
		"guest-get-osinfo": `{"name": "Debian GNU/Linux", "kernel-release": "6.1.0-13-amd64", "version": "12 (bookworm)", "pretty-name": "Debian GNU/Linux 12 (bookworm)", "version-id": "12", "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.55-1 (2023-09-29)", "machine": "x86_64", "id": "debian"}`,
		"guest-network-get-interfaces": `[{"name": "lo", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8}], "statistics": {"tx-packets": 4, "rx-bytes": 240}, "hardware-address": "00:00:00:00:00:00"},
			{"name": "eth0", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "10.0.0.5", "prefix": 24}, {"ip-address-type": "ipv6", "ip-address": "fe80::be24:11ff:fe00:1", "prefix": 64}], "hardware-address": "bc:24:11:00:00:01"}]`,
		"guest-get-fsinfo":        `[{"name": "vda1", "total-bytes": 1000, "mountpoint": "/", "disk": [{"serial": "abc", "bus-type": "virtio", "bus": 0, "unit": 0, "pci-controller": {"bus": 0, "slot": 10, "domain": 0, "function": 0}, "dev": "/dev/vda1", "target": 0}], "used-bytes": 400, "type": "ext4"}]`,
		"guest-get-time":          `1700000000123456789`,
		"guest-get-users":         `[{"login-time": 1700000000.5, "user": "root"}]`,
		"guest-get-vcpus":         `[{"online": true, "can-offline": false, "logical-id": 0}, {"online": false, "can-offline": true, "logical-id": 1}]`,
		"guest-get-memory-blocks": `[{"can-offline": false, "online": true, "phys-index": 8}]`,
		"guest-fsfreeze-status":   `"thawed"`,
		"guest-fsfreeze-thaw":     `2`,
		"guest-fstrim":            `{"paths": [{"path": "/", "trimmed": 4096, "minimum": 0}]}`,
		"guest-exec":              `{"pid": 812}`,
		"guest-exec-status":       `{"exitcode": 3, "out-data": "aGVsbG8K", "exited": true}`,
		"guest-set-user-password": `{}`,
	}
	a := newFakeAgent(t, false, func(cmd string, args json.RawMessage) (any, *Error, bool) {
		mu.Lock()
		gotArgs[cmd] = string(args)
		mu.Unlock()
		return reply(table)(cmd, args)
	})
	c := newClient(t, a, Options{})
	ctx := testCtx(t)

	info, err := c.Info(ctx)
	if err != nil || info.Version != "7.2.0" || len(info.SupportedCommands) != 2 || info.SupportedCommands[1].SuccessResponse {
		t.Errorf("Info = %+v, %v", info, err)
	}
	osi, err := c.OSInfo(ctx)
	if err != nil || osi.ID != "debian" || osi.PrettyName != "Debian GNU/Linux 12 (bookworm)" || osi.KernelRelease != "6.1.0-13-amd64" {
		t.Errorf("OSInfo = %+v, %v", osi, err)
	}
	ifs, err := c.NetworkInterfaces(ctx)
	if err != nil || len(ifs) != 2 || ifs[1].IPAddresses[1].Address != "fe80::be24:11ff:fe00:1" || ifs[0].Statistics.RxBytes != 240 || ifs[1].Statistics != nil {
		t.Errorf("NetworkInterfaces = %+v, %v", ifs, err)
	}
	fs, err := c.FSInfo(ctx)
	if err != nil || len(fs) != 1 || *fs[0].UsedBytes != 400 || fs[0].Disk[0].PCIController.Slot != 10 {
		t.Errorf("FSInfo = %+v, %v", fs, err)
	}
	tm, err := c.Time(ctx)
	if err != nil || tm.UnixNano() != 1700000000123456789 {
		t.Errorf("Time = %v, %v", tm, err)
	}
	users, err := c.Users(ctx)
	if err != nil || len(users) != 1 || users[0].User != "root" || users[0].LoginTime != 1700000000.5 {
		t.Errorf("Users = %+v, %v", users, err)
	}
	vcpus, err := c.VCPUs(ctx)
	if err != nil || len(vcpus) != 2 || vcpus[1].Online || !vcpus[1].CanOffline {
		t.Errorf("VCPUs = %+v, %v", vcpus, err)
	}
	mb, err := c.MemoryBlocks(ctx)
	if err != nil || len(mb) != 1 || mb[0].PhysIndex != 8 {
		t.Errorf("MemoryBlocks = %+v, %v", mb, err)
	}
	if s, err := c.FSFreezeStatus(ctx); err != nil || s != "thawed" {
		t.Errorf("FSFreezeStatus = %q, %v", s, err)
	}
	if n, err := c.FSFreezeThaw(ctx); err != nil || n != 2 {
		t.Errorf("FSFreezeThaw = %d, %v", n, err)
	}
	trim, err := c.FSTrim(ctx, 65536)
	if err != nil || len(trim) != 1 || trim[0].Trimmed != 4096 {
		t.Errorf("FSTrim = %+v, %v", trim, err)
	}
	pid, err := c.Exec(ctx, ExecRequest{Path: "/bin/sh", Args: []string{"-c", "cat"}, Input: []byte("hi\n"), CaptureOutput: true})
	if err != nil || pid != 812 {
		t.Errorf("Exec = %d, %v", pid, err)
	}
	st, err := c.ExecStatus(ctx, 812)
	if err != nil || !st.Exited || st.ExitCode == nil || *st.ExitCode != 3 || string(st.Out) != "hello\n" || st.Signal != nil {
		t.Errorf("ExecStatus = %+v, %v", st, err)
	}
	if err := c.SetUserPassword(ctx, "root", "pa:ss", false); err != nil {
		t.Errorf("SetUserPassword: %v", err)
	}

	wantArgs := map[string]string{
		"guest-fstrim":            `{"minimum":65536}`,
		"guest-exec":              `{"path":"/bin/sh","arg":["-c","cat"],"input-data":"aGkK","capture-output":true}`,
		"guest-exec-status":       `{"pid":812}`,
		"guest-set-user-password": `{"crypted":false,"password":"cGE6c3M=","username":"root"}`,
		"guest-info":              ``,
	}
	mu.Lock()
	defer mu.Unlock()
	for cmd, want := range wantArgs {
		if got := gotArgs[cmd]; !jsonEqual(got, want) {
			t.Errorf("%s arguments = %s, want %s", cmd, got, want)
		}
	}
}

func jsonEqual(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestShutdownExpectsNoReply(t *testing.T) {
	var mu sync.Mutex
	var modes []string
	a := newFakeAgent(t, false, func(cmd string, args json.RawMessage) (any, *Error, bool) {
		if cmd == "guest-shutdown" {
			mu.Lock()
			modes = append(modes, string(args))
			mu.Unlock()
			return nil, nil, false // the guest powers off instead of answering
		}
		return json.RawMessage(`{}`), nil, true
	})
	c := newClient(t, a, Options{Timeout: 5 * time.Second})
	ctx := testCtx(t)
	start := time.Now()
	if err := c.Shutdown(ctx, "reboot"); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown waited %v for a reply that never comes", d)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping after shutdown requests: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(modes, []string{`{"mode":"reboot"}`, ``}) {
		t.Errorf("shutdown arguments = %q", modes)
	}
	if err := c.Shutdown(ctx, "off"); err == nil || !strings.Contains(err.Error(), "powerdown, reboot and halt") {
		t.Errorf("bad mode = %v", err)
	}
}

func TestFileWriteThenReadRoundTrip(t *testing.T) {
	a := newFakeAgent(t, false, nil)
	c := newClient(t, a, Options{})
	c.fileChunk = 4096
	ctx := testCtx(t)
	// Over several chunks, with bytes base64 must carry intact.
	content := bytes.Repeat([]byte{0, 0xFF, '\n', 'x', '"'}, (c.fileChunk*3+7)/5)
	if err := c.FileWrite(ctx, "/etc/motd", content); err != nil {
		t.Fatalf("FileWrite: %v", err)
	}
	got, err := c.FileRead(ctx, "/etc/motd")
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("FileRead: %d bytes (want %d), %v", len(got), len(content), err)
	}
	if err := c.FileWrite(ctx, "/empty", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.FileRead(ctx, "/empty"); err != nil || len(got) != 0 {
		t.Errorf("empty file read as %q, %v", got, err)
	}
	if _, err := c.FileRead(ctx, "/nope"); err == nil || !strings.Contains(err.Error(), "No such file") {
		t.Errorf("reading a missing file = %v", err)
	}
	a.mu.Lock()
	open := len(a.handles)
	a.mu.Unlock()
	if open != 0 {
		t.Errorf("%d guest file handles left open", open)
	}
}

func TestFileReadRefusesFilesOverTheLimit(t *testing.T) {
	a := newFakeAgent(t, false, nil)
	c := newClient(t, a, Options{})
	// The real limit is 16 MiB; a smaller one keeps the test quick.
	c.fileChunk, c.maxFileRead = 64<<10, 256<<10
	a.setFile("/big", make([]byte, c.maxFileRead+1))
	a.setFile("/exact", make([]byte, c.maxFileRead))
	ctx := testCtx(t)
	if _, err := c.FileRead(ctx, "/big"); err == nil || !strings.Contains(err.Error(), "262144 bytes read limit") {
		t.Fatalf("FileRead of a file over the limit = %v", err)
	}
	if got, err := c.FileRead(ctx, "/exact"); err != nil || len(got) != c.maxFileRead {
		t.Fatalf("FileRead of a file at the limit = %d bytes, %v", len(got), err)
	}
	a.mu.Lock()
	open := len(a.handles)
	a.mu.Unlock()
	if open != 0 {
		t.Errorf("%d guest file handles left open", open)
	}
}

func TestQueuedCallGivesUpWhenItsContextEnds(t *testing.T) {
	release := make(chan struct{})
	a := newFakeAgent(t, false, func(cmd string, _ json.RawMessage) (any, *Error, bool) {
		if cmd == "guest-fsfreeze-freeze" {
			<-release
			return 1, nil, true
		}
		return json.RawMessage(`{}`), nil, true
	})
	c := newClient(t, a, Options{})
	frozen := make(chan error, 1)
	go func() {
		_, err := c.FSFreezeFreeze(testCtx(t))
		frozen <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(a.seen(), "guest-fsfreeze-freeze") {
		if time.Now().After(deadline) {
			t.Fatal("freeze never reached the agent")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping queued behind a freeze = %v, want deadline exceeded", err)
	}
	close(release)
	if err := <-frozen; err != nil {
		t.Errorf("freeze: %v", err)
	}
}
