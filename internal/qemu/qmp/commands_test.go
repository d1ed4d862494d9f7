package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/qemu/qmp/qmptest"
)

// raw is a reply as QEMU 7.2 printed it, so decoding is tested against the
// real field names.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestTypedQueriesDecodeQEMUReplies(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"query-status":  {qmptest.Return(raw(`{"status": "paused", "singlestep": false, "running": false}`))},
		"query-version": {qmptest.Return(raw(`{"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}`))},
		"query-machines": {qmptest.Return(raw(`[{"name": "pc-i440fx-7.2", "alias": "pc", "is-default": true, "cpu-max": 255, "hotpluggable-cpus": true, "deprecated": false},
			{"name": "pc-q35-7.2", "alias": "q35", "is-current": true, "cpu-max": 288, "hotpluggable-cpus": true, "deprecated": false}]`))},
		"query-cpus-fast": {qmptest.Return(raw(`[{"thread-id": 7627, "props": {"core-id": 0, "thread-id": 0, "socket-id": 0}, "qom-path": "/machine/unattached/device[0]", "cpu-index": 0, "target": "x86_64"},
			{"thread-id": 7628, "props": {"core-id": 1, "thread-id": 0, "socket-id": 0}, "qom-path": "/machine/peripheral/cpu1", "cpu-index": 1, "target": "x86_64"}]`))},
		"query-blockstats":          {qmptest.Return(raw(`[{"device": "", "qdev": "/machine/peripheral/virtio0/virtio-backend", "node-name": "drive-virtio0", "stats": {"rd_bytes": 4096, "wr_bytes": 8192, "rd_operations": 1, "wr_operations": 2}}]`))},
		"query-block":               {qmptest.Return(raw(`[{"io-status": "ok", "device": "", "locked": false, "removable": false, "inserted": {"image": {"virtual-size": 33554432, "filename": "/tmp/d.qcow2", "format": "qcow2"}, "ro": false, "node-name": "disk0", "drv": "qcow2", "file": "/tmp/d.qcow2", "backing_file_depth": 0}, "qdev": "scsi-disk0", "type": "unknown"}]`))},
		"query-balloon":             {qmptest.Return(raw(`{"actual": 134217728}`))},
		"query-memory-size-summary": {qmptest.Return(raw(`{"base-memory": 134217728, "plugged-memory": 0}`))},
		"query-vnc":                 {qmptest.Return(raw(`{"enabled": true, "auth": "vnc", "family": "unix", "clients": [], "service": "/run/vnc.sock", "host": ""}`))},
		"query-hotpluggable-cpus": {qmptest.Return(raw(`[{"props": {"core-id": 1, "thread-id": 0, "socket-id": 0}, "vcpus-count": 1, "type": "qemu64-x86_64-cpu"},
			{"props": {"core-id": 0, "thread-id": 0, "socket-id": 0}, "vcpus-count": 1, "qom-path": "/machine/unattached/device[0]", "type": "qemu64-x86_64-cpu"}]`))},
		"human-monitor-command": {qmptest.Return("7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3\r\n")},
	}))
	c := dial(t, s)
	ctx := testCtx(t)

	st, err := c.QueryStatus(ctx)
	if err != nil || st.Status != "paused" || st.Running {
		t.Errorf("QueryStatus = %+v, %v", st, err)
	}
	v, err := c.QueryVersion(ctx)
	if err != nil || v.String() != "7.2.22" || !v.AtLeast(6, 0) || v.AtLeast(7, 3) {
		t.Errorf("QueryVersion = %v (AtLeast 6.0 %v, 7.3 %v), %v", v, v.AtLeast(6, 0), v.AtLeast(7, 3), err)
	}
	m, err := c.CurrentMachine(ctx)
	if err != nil || m != "pc-q35-7.2" {
		t.Errorf("CurrentMachine = %q, %v", m, err)
	}
	cpus, err := c.QueryCPUsFast(ctx)
	if err != nil || len(cpus) != 2 || cpus[1].ThreadID != 7628 || cpus[1].Props.CoreID == nil || *cpus[1].Props.CoreID != 1 {
		t.Errorf("QueryCPUsFast = %+v, %v", cpus, err)
	}
	stats, err := c.QueryBlockstats(ctx, false)
	if err != nil || len(stats) != 1 || stats[0].Stats.RdBytes != 4096 || stats[0].Stats.WrBytes != 8192 || stats[0].NodeName != "drive-virtio0" {
		t.Errorf("QueryBlockstats = %+v, %v", stats, err)
	}
	blocks, err := c.QueryBlock(ctx)
	if err != nil || len(blocks) != 1 || blocks[0].QDev != "scsi-disk0" || blocks[0].Inserted == nil || blocks[0].Inserted.Image.VirtualSize != 32<<20 {
		t.Errorf("QueryBlock = %+v, %v", blocks, err)
	}
	bal, err := c.QueryBalloon(ctx)
	if err != nil || bal != 128<<20 {
		t.Errorf("QueryBalloon = %d, %v", bal, err)
	}
	mem, err := c.QueryMemorySizeSummary(ctx)
	if err != nil || mem.BaseMemory != 128<<20 {
		t.Errorf("QueryMemorySizeSummary = %+v, %v", mem, err)
	}
	vnc, err := c.QueryVNC(ctx)
	if err != nil || !vnc.Enabled || vnc.Family != "unix" || vnc.Service != "/run/vnc.sock" {
		t.Errorf("QueryVNC = %+v, %v", vnc, err)
	}
	hp, err := c.QueryHotpluggableCPUs(ctx)
	if err != nil || len(hp) != 2 || hp[0].QOMPath != "" || hp[1].QOMPath == "" {
		t.Errorf("QueryHotpluggableCPUs = %+v, %v", hp, err)
	}
	out, err := c.HumanMonitorCommand(ctx, "info version")
	if err != nil || !strings.HasPrefix(out, "7.2.22") {
		t.Errorf("HumanMonitorCommand = %q, %v", out, err)
	}
	if got := s.Requests()[len(s.Requests())-1]; string(got.Args) != `{"command-line":"info version"}` {
		t.Errorf("human-monitor-command sent %s", got.Args)
	}
}

// TestCommandArguments pins the exact arguments each helper sends, since
// QEMU rejects unknown or misspelt members.
func TestCommandArguments(t *testing.T) {
	tests := []struct {
		name    string
		call    func(context.Context, *Client) error
		command string
		args    string // JSON, "" for none
	}{
		{"resize", func(ctx context.Context, c *Client) error { return c.BlockResize(ctx, "drive-scsi0", 1<<30) },
			"block_resize", `{"node-name":"drive-scsi0","size":1073741824}`},
		{"blockdev-del", func(ctx context.Context, c *Client) error { return c.BlockdevDel(ctx, "n1") },
			"blockdev-del", `{"node-name":"n1"}`},
		{"balloon", func(ctx context.Context, c *Client) error { return c.Balloon(ctx, 512<<20) },
			"balloon", `{"value":536870912}`},
		{"powerdown", func(ctx context.Context, c *Client) error { return c.SystemPowerdown(ctx) }, "system_powerdown", ""},
		{"reset", func(ctx context.Context, c *Client) error { return c.SystemReset(ctx) }, "system_reset", ""},
		{"wakeup", func(ctx context.Context, c *Client) error { return c.SystemWakeup(ctx) }, "system_wakeup", ""},
		{"stop", func(ctx context.Context, c *Client) error { return c.Stop(ctx) }, "stop", ""},
		{"cont", func(ctx context.Context, c *Client) error { return c.Cont(ctx) }, "cont", ""},
		{"sendkey", func(ctx context.Context, c *Client) error { return c.SendKey(ctx, "ctrl-alt-delete", 0) },
			"send-key", `{"keys":[{"type":"qcode","data":"ctrl"},{"type":"qcode","data":"alt"},{"type":"qcode","data":"delete"}]}`},
		{"sendkey-hold", func(ctx context.Context, c *Client) error { return c.SendKey(ctx, "0x1d-c", 200) },
			"send-key", `{"hold-time":200,"keys":[{"type":"number","data":29},{"type":"qcode","data":"c"}]}`},
		{"device_add", func(ctx context.Context, c *Client) error {
			return c.DeviceAdd(ctx, "virtio-net-pci", "net1", map[string]any{"netdev": "tap1", "mac": "BC:24:11:00:00:01", "bus": "pci.0", "addr": "0x13"})
		}, "device_add", `{"addr":"0x13","bus":"pci.0","driver":"virtio-net-pci","id":"net1","mac":"BC:24:11:00:00:01","netdev":"tap1"}`},
		{"netdev_add", func(ctx context.Context, c *Client) error {
			return c.NetdevAdd(ctx, map[string]any{"type": "tap", "id": "tap1", "ifname": "tap100i1", "script": "no", "downscript": "no"})
		}, "netdev_add", `{"downscript":"no","id":"tap1","ifname":"tap100i1","script":"no","type":"tap"}`},
		{"netdev_del", func(ctx context.Context, c *Client) error { return c.NetdevDel(ctx, "tap1") }, "netdev_del", `{"id":"tap1"}`},
		{"object-add", func(ctx context.Context, c *Client) error {
			return c.ObjectAdd(ctx, "iothread", "iothread-virtio0", nil)
		}, "object-add", `{"id":"iothread-virtio0","qom-type":"iothread"}`},
		{"object-del", func(ctx context.Context, c *Client) error { return c.ObjectDel(ctx, "iothread-virtio0") }, "object-del", `{"id":"iothread-virtio0"}`},
		{"snapshot-sync", func(ctx context.Context, c *Client) error {
			return c.BlockdevSnapshotSync(ctx, SnapshotSyncOptions{NodeName: "disk0", SnapshotFile: "/tmp/o.qcow2", SnapshotNodeName: "o0", Format: "qcow2"})
		}, "blockdev-snapshot-sync", `{"node-name":"disk0","snapshot-file":"/tmp/o.qcow2","snapshot-node-name":"o0","format":"qcow2"}`},
		{"snapshot", func(ctx context.Context, c *Client) error { return c.BlockdevSnapshot(ctx, "disk0", "o0") },
			"blockdev-snapshot", `{"node":"disk0","overlay":"o0"}`},
		{"set_password", func(ctx context.Context, c *Client) error { return c.SetPassword(ctx, "vnc", "s3cret") },
			"set_password", `{"password":"s3cret","protocol":"vnc"}`},
		{"expire_password", func(ctx context.Context, c *Client) error { return c.ExpirePassword(ctx, "vnc", "+30") },
			"expire_password", `{"protocol":"vnc","time":"+30"}`},
		{"migrate", func(ctx context.Context, c *Client) error { return c.Migrate(ctx, "exec:cat > /tmp/state") },
			"migrate", `{"uri":"exec:cat \u003e /tmp/state"}`},
		{"migrate-caps", func(ctx context.Context, c *Client) error {
			return c.MigrateSetCapabilities(ctx, map[string]bool{"xbzrle": false, "events": true})
		}, "migrate-set-capabilities", `{"capabilities":[{"capability":"events","state":true},{"capability":"xbzrle","state":false}]}`},
		{"job-complete", func(ctx context.Context, c *Client) error { return c.JobComplete(ctx, "mirror-scsi0") },
			"job-complete", `{"id":"mirror-scsi0"}`},
		{"job-cancel", func(ctx context.Context, c *Client) error { return c.JobCancel(ctx, "mirror-scsi0") },
			"job-cancel", `{"id":"mirror-scsi0"}`},
		{"qom-get", func(ctx context.Context, c *Client) error {
			var v any
			return c.QOMGet(ctx, "/machine/peripheral/balloon0", "guest-stats", &v)
		}, "qom-get", `{"path":"/machine/peripheral/balloon0","property":"guest-stats"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := qmptest.NewServer(t, nil)
			c := dial(t, s)
			if err := tt.call(testCtx(t), c); err != nil {
				t.Fatal(err)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || reqs[0].Command != tt.command {
				t.Fatalf("sent %v, want one %s", s.Commands(), tt.command)
			}
			if got := string(reqs[0].Args); !jsonEqual(got, tt.args) {
				t.Errorf("%s arguments = %s, want %s", tt.command, got, tt.args)
			}
		})
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

func TestBadHelperInputIsRejectedLocally(t *testing.T) {
	s := qmptest.NewServer(t, nil)
	c := dial(t, s)
	ctx := testCtx(t)
	for name, err := range map[string]error{
		"resize":    c.BlockResize(ctx, "", 1),
		"sendkey":   c.SendKey(ctx, "ctrl-altt", 0),
		"mirror":    c.BlockdevMirror(ctx, MirrorOptions{JobID: "j"}),
		"deviceadd": c.DeviceAdd(ctx, "", "x", nil),
		"snapshot":  c.SnapshotSave(ctx, "", "t", "d", []string{"d"}),
	} {
		if err == nil {
			t.Errorf("%s: bad input accepted", name)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("bad input reached QEMU: %v", s.Commands())
	}
}

func TestDeviceDelWaitsForItsOwnDeletion(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"device_del": {{After: []qmptest.Event{
			{Name: "DEVICE_DELETED", Data: map[string]string{"path": "/machine/peripheral/net1/virtio-backend"}},
			{Name: "DEVICE_DELETED", Data: map[string]string{"device": "other", "path": "/machine/peripheral/other"}},
		}}},
	}))
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.DeviceDel(ctx, "net1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DeviceDel returned %v before net1 was deleted", err)
	}

	s2 := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"device_del": {{After: []qmptest.Event{
			{Name: "DEVICE_DELETED", Data: map[string]string{"device": "other"}},
			{Name: "DEVICE_DELETED", Data: map[string]string{"device": "net1", "path": "/machine/peripheral/net1"}},
		}}},
	}))
	c2 := dial(t, s2)
	if err := c2.DeviceDel(testCtx(t), "net1"); err != nil {
		t.Fatalf("DeviceDel: %v", err)
	}
}

func jobEvent(id, status string) qmptest.Event {
	return qmptest.Event{Name: "JOB_STATUS_CHANGE", Data: map[string]string{"id": id, "status": status}}
}

func TestSnapshotSaveReturnsJobErrorAndDismisses(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"snapshot-save": {{
			Before: []qmptest.Event{jobEvent("other", "created"), jobEvent("snap", "created"), jobEvent("snap", "running")},
			After:  []qmptest.Event{jobEvent("other", "concluded"), jobEvent("snap", "aborting"), jobEvent("snap", "concluded")},
		}},
		"query-jobs":  {qmptest.Return(raw(`[{"id": "snap", "type": "snapshot-save", "status": "concluded", "current-progress": 1, "total-progress": 1, "error": "Device 'disk9' not found"}]`))},
		"job-dismiss": {{}},
	}))
	c := dial(t, s)
	err := c.SnapshotSave(testCtx(t), "snap", "before-upgrade", "disk0", []string{"disk0"})
	var jerr *JobError
	if !errors.As(err, &jerr) || jerr.Msg != "Device 'disk9' not found" || errors.Is(err, ErrJobCancelled) {
		t.Fatalf("SnapshotSave = %v", err)
	}
	if got, want := s.Commands(), []string{"snapshot-save", "query-jobs", "job-dismiss"}; !slices.Equal(got, want) {
		t.Errorf("commands = %v, want %v", got, want)
	}
	if args := string(s.Requests()[0].Args); !jsonEqual(args, `{"job-id":"snap","tag":"before-upgrade","vmstate":"disk0","devices":["disk0"]}`) {
		t.Errorf("snapshot-save arguments = %s", args)
	}
}

func TestMirrorReadyCompleteSucceeds(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"blockdev-mirror": {{
			Before: []qmptest.Event{jobEvent("m", "created"), jobEvent("m", "running")},
			After: []qmptest.Event{jobEvent("m", "ready"),
				{Name: "BLOCK_JOB_READY", Data: map[string]any{"device": "m", "len": 1, "offset": 1, "speed": 0, "type": "mirror"}}},
		}},
		"job-complete": {{After: []qmptest.Event{jobEvent("m", "waiting"), jobEvent("m", "pending"),
			{Name: "BLOCK_JOB_COMPLETED", Data: map[string]any{"device": "m", "len": 1, "offset": 1, "speed": 0, "type": "mirror"}},
			jobEvent("m", "concluded")}}},
		"query-jobs":  {qmptest.Return(raw(`[{"id": "m", "type": "mirror", "status": "concluded", "current-progress": 1, "total-progress": 1}]`))},
		"job-dismiss": {{}},
	}))
	c := dial(t, s)
	ctx := testCtx(t)
	sub, cancel := c.SubscribeJob("m")
	defer cancel()
	if err := c.BlockdevMirror(ctx, MirrorOptions{JobID: "m", Device: "disk0", Target: "target0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitJobStatus(ctx, sub, "m", "ready"); err != nil {
		t.Fatalf("waiting for ready: %v", err)
	}
	if err := c.JobComplete(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitJob(ctx, sub, "m"); err != nil {
		t.Fatalf("WaitJob: %v", err)
	}
	if args := string(s.Requests()[0].Args); !jsonEqual(args, `{"job-id":"m","device":"disk0","target":"target0","sync":"full","auto-dismiss":false}`) {
		t.Errorf("blockdev-mirror arguments = %s", args)
	}
	if !slices.Contains(s.Commands(), "job-dismiss") {
		t.Errorf("concluded job not dismissed: %v", s.Commands())
	}
}

func TestAutoDismissedBlockJobReportsEventError(t *testing.T) {
	// What QEMU 7.2 does when mirroring to a target of another size: the
	// job is gone by the time anyone asks, and only the event has the error.
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"blockdev-mirror": {{After: []qmptest.Event{jobEvent("m", "aborting"),
			{Name: "BLOCK_JOB_COMPLETED", Data: map[string]any{"device": "m", "type": "mirror", "error": "Source and target image have different sizes"}},
			jobEvent("m", "concluded"), jobEvent("m", "null")}}},
		"query-jobs": {qmptest.Return(raw(`[]`))},
	}))
	c := dial(t, s)
	ctx := testCtx(t)
	sub, cancel := c.SubscribeJob("m")
	defer cancel()
	if err := c.BlockdevMirror(ctx, MirrorOptions{JobID: "m", Device: "a", Target: "b"}); err != nil {
		t.Fatal(err)
	}
	err := c.WaitJobStatus(ctx, sub, "m", "ready")
	if err == nil || !strings.Contains(err.Error(), "different sizes") {
		t.Fatalf("WaitJobStatus = %v, want the size error", err)
	}
}

func TestCancelledBlockJobIsMarked(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"job-cancel": {{After: []qmptest.Event{jobEvent("m", "aborting"),
			{Name: "BLOCK_JOB_CANCELLED", Data: map[string]any{"device": "m", "type": "mirror"}},
			jobEvent("m", "concluded")}}},
		"query-jobs":  {qmptest.Return(raw(`[{"id": "m", "type": "mirror", "status": "concluded", "current-progress": 1, "total-progress": 2}]`))},
		"job-dismiss": {{}},
	}))
	c := dial(t, s)
	ctx := testCtx(t)
	err := c.RunJob(ctx, "m", func(ctx context.Context) error { return c.JobCancel(ctx, "m") })
	if !errors.Is(err, ErrJobCancelled) {
		t.Fatalf("RunJob after cancel = %v, want ErrJobCancelled", err)
	}
}

func TestWaitMigrationPollsToCompletionAndReportsFailure(t *testing.T) {
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"query-migrate": {
			qmptest.Return(raw(`{"status": "active", "ram": {"transferred": 10, "remaining": 90, "total": 100}}`)),
			qmptest.Return(raw(`{"status": "completed", "total-time": 1500, "downtime": 40}`)),
		},
	}))
	c := dial(t, s)
	info, err := c.WaitMigration(testCtx(t))
	if err != nil || info.Status != "completed" || info.TotalTime != 1500 {
		t.Fatalf("WaitMigration = %+v, %v", info, err)
	}

	s2 := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"query-migrate": {qmptest.Return(raw(`{"status": "failed", "error-desc": "Unable to write to command: Broken pipe"}`))},
	}))
	c2 := dial(t, s2)
	if _, err := c2.WaitMigration(testCtx(t)); err == nil || !strings.Contains(err.Error(), "Broken pipe") {
		t.Fatalf("failed migration = %v", err)
	}
}

func TestCurrentMachineFallsBackToQOMType(t *testing.T) {
	// Upstream QEMU has no is-current marker; the QOM type names the machine.
	s := qmptest.NewServer(t, qmptest.Script(map[string][]qmptest.Response{
		"query-machines": {qmptest.Return(raw(`[{"name": "pc-i440fx-7.2", "alias": "pc", "is-default": true, "cpu-max": 255}]`))},
		"qom-get":        {qmptest.Return("pc-i440fx-7.2-machine"), qmptest.Return("odd")},
	}))
	c := dial(t, s)
	if m, err := c.CurrentMachine(testCtx(t)); err != nil || m != "pc-i440fx-7.2" {
		t.Errorf("CurrentMachine = %q, %v", m, err)
	}
	if m, err := c.CurrentMachine(testCtx(t)); err == nil {
		t.Errorf("CurrentMachine accepted QOM type %q", m)
	}
}
