package iscsidirect

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

const (
	testIQN   = "iqn.2024-01.org.hearth:test"
	initiator = "iqn.1993-08.org.debian:01:3debfe52c7"
	lsCmd     = "iscsi-ls -s -i " + initiator + " iscsi://127.0.0.1:13260"
	rc16Cmd   = "iscsi-readcapacity16 -s -i " + initiator + " iscsi://127.0.0.1:13260/" + testIQN + "/"
)

func fixture(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// newTest opens a storage on the captured portal and target, with the
// captured initiator name.
func newTest(t *testing.T) (*Storage, *runner.Recorder) {
	t.Helper()
	r := &runner.Recorder{}
	s, err := open(storage.Config{ID: "fast", Type: "iscsidirect",
		Props: map[string]string{"portal": "127.0.0.1:13260", "target": testIQN}}, storage.Env{Node: "n1", Runner: r})
	if err != nil {
		t.Fatal(err)
	}
	s.initiatorFile = filepath.Join("testdata", "initiatorname.iscsi")
	return s, r
}

func TestInfo(t *testing.T) {
	p := Plugin{}
	if p.Type() != "iscsidirect" {
		t.Fatal(p.Type())
	}
	info := p.Info()
	var keys []string
	for k := range info.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"bwlimit", "content", "disable", "nodes", "portal", "target"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("options %v, want %v", keys, want)
	}
	for _, k := range []string{"portal", "target"} {
		if o := info.Options[k]; !o.Required || !o.Fixed {
			t.Errorf("%s: %+v, want required and fixed", k, o)
		}
	}
	if !info.Shared || info.SharedOption || info.LinkedClones || len(info.Snapshots) != 0 ||
		!reflect.DeepEqual(info.Content, []storage.Content{storage.Images}) ||
		!reflect.DeepEqual(info.Formats, []string{"raw"}) || info.DefaultFormat != "raw" {
		t.Errorf("capabilities: %+v", info)
	}
}

func TestOpen(t *testing.T) {
	tests := []struct {
		portal, target string
		wantPortal     string
		err            string
	}{
		{portal: "10.10.10.1", target: "iqn.2006-01.openfiler.com:tsn.dcb5aaaddd", wantPortal: "10.10.10.1"},
		{portal: "san.example.com:3261", target: testIQN, wantPortal: "san.example.com:3261"},
		{portal: "fd00::1", target: testIQN, wantPortal: "[fd00::1]"},
		{portal: "[fd00::1]:3260", target: testIQN, wantPortal: "[fd00::1]:3260"},
		{portal: "", target: testIQN, err: "portal and target are required"},
		{portal: "10.0.0.1", target: "", err: "portal and target are required"},
		{portal: "10.0.0.1:99999", target: testIQN, err: "invalid portal"},
		{portal: "10.0.0.1:", target: testIQN, err: "invalid portal"},
		{portal: "host/x", target: testIQN, err: "invalid portal"},
		{portal: "[10.0.0.1]:3260", target: testIQN, err: "invalid portal"},
		{portal: "10.0.0.1", target: "iqn.x/../y", err: "invalid iSCSI target name"},
		{portal: "10.0.0.1", target: "-iqn", err: "invalid iSCSI target name"},
		{portal: "10.0.0.1", target: "iqn x", err: "invalid iSCSI target name"},
	}
	for _, tt := range tests {
		st, err := Plugin{}.Open(storage.Config{ID: "s", Props: map[string]string{"portal": tt.portal, "target": tt.target}},
			storage.Env{Runner: &runner.Recorder{}})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Open(%q, %q) = %v, want error %q", tt.portal, tt.target, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q, %q): %v", tt.portal, tt.target, err)
			continue
		}
		if got := st.(*Storage).Portal(); got != tt.wantPortal {
			t.Errorf("Open(%q): portal %q, want %q", tt.portal, got, tt.wantPortal)
		}
	}
}

func TestListAndStatus(t *testing.T) {
	s, r := newTest(t)
	r.On(lsCmd, fixture(t, "iscsi-ls-s.txt"))
	r.On(rc16Cmd+"1", "67108864\n")
	r.On(rc16Cmd+"2", fixture(t, "rc16-lun2.txt"))
	ctx := t.Context()
	vols, err := s.List(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.Volume{
		{Volname: "lun1", Content: storage.Images, Format: "raw", Size: 64 << 20, Used: 64 << 20},
		{Volname: "lun2", Content: storage.Images, Format: "raw", Size: 1536 << 20, Used: 1536 << 20},
	}
	if !reflect.DeepEqual(vols, want) {
		t.Errorf("List = %+v\nwant %+v", vols, want)
	}
	wantLines := []string{lsCmd, rc16Cmd + "1", rc16Cmd + "2"}
	if got := r.Lines(); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("commands %q\nwant %q", got, wantLines)
	}

	for _, c := range []struct {
		vmid    int
		content []storage.Content
	}{{100, nil}, {0, []storage.Content{storage.Rootdir}}} {
		r.Reset()
		if vols, err := s.List(ctx, c.vmid, c.content); err != nil || len(vols) != 0 || len(r.Lines()) != 0 {
			t.Errorf("List(%d, %v) = %v, %v after %q; want nothing and no command", c.vmid, c.content, vols, err, r.Lines())
		}
	}
	if vols, err := s.List(ctx, 0, []storage.Content{storage.Images}); err != nil || len(vols) != 2 {
		t.Errorf("List(images) = %v, %v", vols, err)
	}

	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (storage.Status{Active: true, Total: 1600 << 20, Used: 1600 << 20}); st != want {
		t.Errorf("Status = %+v, want %+v", st, want)
	}
}

func TestListFallsBackToRoundedSize(t *testing.T) {
	s, r := newTest(t)
	r.On(lsCmd, fixture(t, "iscsi-ls-s.txt"))
	r.Fail(rc16Cmd+"1", 10, "failed to send readcapacity command\n")
	r.On(rc16Cmd+"2", "1610612736\n")
	vols, err := s.List(t.Context(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(vols) != 2 || vols[0].Size != 63<<20 || vols[1].Size != 1536<<20 {
		t.Errorf("List = %+v, want lun1 at the rounded 63 MiB iscsi-ls shows", vols)
	}
}

func TestListErrors(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(r *runner.Recorder)
		err    string
		nvols  int
		errNil bool
	}{
		{
			name:  "portal refused",
			setup: func(r *runner.Recorder) { r.Fail(lsCmd, 10, fixture(t, "ls-refused.stderr")) },
			err:   "storage fast: list: command 'iscsi-ls -s -i " + initiator + " iscsi://127.0.0.1:13260' failed: exit code 10: discoveryconnect_cb: connection failed",
		},
		{
			name:  "garbage",
			setup: func(r *runner.Recorder) { r.On(lsCmd, "Lun:1    Type:DIRECT_ACCESS (Size:1G)\n") },
			err:   "before any target",
		},
		{
			name: "other target only",
			setup: func(r *runner.Recorder) {
				r.On(lsCmd, "Target:iqn.x:other Portal:127.0.0.1:13260,1\nLun:1    Type:DIRECT_ACCESS (Size:9M)\n")
			},
			errNil: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := newTest(t)
			tt.setup(r)
			vols, err := s.List(t.Context(), 0, nil)
			if tt.errNil {
				if err != nil || len(vols) != tt.nvols {
					t.Errorf("List = %v, %v; want %d volumes", vols, err, tt.nvols)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("List error %v, want %q", err, tt.err)
			}
			if _, err := s.Status(t.Context()); err == nil {
				t.Errorf("Status succeeded where listing fails")
			}
		})
	}
}

func TestVolume(t *testing.T) {
	s, r := newTest(t)
	r.On(rc16Cmd+"2", fixture(t, "rc16-lun2.txt"))
	r.Fail(rc16Cmd+"9", 10, fixture(t, "rc16-no-lun.stderr"))
	v, err := s.Volume(t.Context(), "lun2")
	if err != nil || v != (storage.Volume{Volname: "lun2", Content: storage.Images, Format: "raw", Size: 1536 << 20, Used: 1536 << 20}) {
		t.Errorf("Volume(lun2) = %+v, %v", v, err)
	}
	if _, err := s.Volume(t.Context(), "lun9"); err == nil || !strings.Contains(err.Error(), "storage fast: volume lun9: target "+testIQN+" has no LUN 9") {
		t.Errorf("Volume(lun9) error %v", err)
	}
	for _, bad := range []string{"vm-100-disk-0", "lun", "lun-1", "lun1/../x", "0.0.1.scsi-x", "lun99999", "lun16384"} {
		r.Reset()
		if _, err := s.Volume(t.Context(), bad); err == nil || len(r.Lines()) != 0 {
			t.Errorf("Volume(%q) = %v after %q, want a refusal without commands", bad, err, r.Lines())
		}
	}
}

func TestAttach(t *testing.T) {
	s, r := newTest(t)
	a, err := s.Attach(t.Context(), "lun3", "")
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Attachment{
		Path: "iscsi://127.0.0.1:13260/" + testIQN + "/3",
		Blockdev: map[string]any{"driver": "iscsi", "transport": "tcp", "portal": "127.0.0.1:13260",
			"target": testIQN, "lun": 3, "initiator-name": initiator},
		Format: "raw",
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("Attach = %+v\nwant %+v", a, want)
	}
	if len(r.Lines()) != 0 {
		t.Errorf("Attach ran %q", r.Lines())
	}
	s.initiatorFile = filepath.Join(t.TempDir(), "none")
	if a, err := s.Attach(t.Context(), "lun3", ""); err != nil || a.Blockdev["initiator-name"] != nil {
		t.Errorf("Attach without an initiator name = %+v, %v", a, err)
	}
	if _, err := s.Attach(t.Context(), "lun3", "snap1"); err == nil || !strings.Contains(err.Error(), "no snapshots") {
		t.Errorf("Attach of a snapshot: %v", err)
	}
	if _, err := s.Attach(t.Context(), "../lun3", ""); err == nil {
		t.Errorf("Attach(../lun3) succeeded")
	}
}

func TestAttachIPv6(t *testing.T) {
	s, err := open(storage.Config{ID: "v6", Props: map[string]string{"portal": "fd00::5", "target": testIQN}}, storage.Env{Runner: &runner.Recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	s.initiatorFile = filepath.Join(t.TempDir(), "none")
	a, err := s.Attach(t.Context(), "lun0", "")
	if err != nil || a.Path != "iscsi://[fd00::5]/"+testIQN+"/0" || a.Blockdev["portal"] != "[fd00::5]" {
		t.Errorf("Attach = %+v, %v", a, err)
	}
}

func TestRefusals(t *testing.T) {
	s, r := newTest(t)
	ctx := t.Context()
	if _, err := s.Alloc(ctx, 100, "", "raw", 1<<30); err == nil || !strings.Contains(err.Error(), "storage fast: cannot allocate a disk for guest 100: LUNs are created on the target") {
		t.Errorf("Alloc: %v", err)
	}
	if err := s.Free(ctx, "lun1"); err == nil || !strings.Contains(err.Error(), "cannot free lun1") {
		t.Errorf("Free: %v", err)
	}
	if err := s.Resize(ctx, "lun1", 2<<30); err == nil || !strings.Contains(err.Error(), "cannot resize lun1") {
		t.Errorf("Resize: %v", err)
	}
	if err := s.Activate(ctx); err != nil {
		t.Errorf("Activate: %v", err)
	}
	if err := s.Deactivate(ctx); err != nil {
		t.Errorf("Deactivate: %v", err)
	}
	if len(r.Lines()) != 0 {
		t.Errorf("commands run: %q", r.Lines())
	}
	var st storage.Storage = s
	if _, ok := st.(storage.Snapshotter); ok {
		t.Error("iscsidirect must not claim snapshots")
	}
	if _, ok := st.(storage.Cloner); ok {
		t.Error("iscsidirect must not claim clones")
	}
}
