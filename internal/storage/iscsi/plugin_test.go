package iscsi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

const (
	testIQN    = "iqn.2024-01.org.hearth:test"
	sessionCmd = "iscsiadm --mode session"
	nodeCmd    = "iscsiadm --mode node"
	retryCmd   = "iscsiadm --mode node --targetname " + testIQN + " --op update --name node.session.initial_login_retry_max --value 0"
	loginCmd   = "iscsiadm --mode node --targetname " + testIQN + " --login"
	logoutCmd  = "iscsiadm --mode node --targetname " + testIQN + " --logout"
)

func discoveryCmd(portal string) string {
	return runner.Cmd{Name: "iscsiadm", Args: []string{"--mode", "discovery", "--type", "sendtargets", "--portal", portal}}.String()
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func newTest(t *testing.T, portal string) (*Storage, *runner.Recorder) {
	t.Helper()
	r := &runner.Recorder{}
	s, err := open(storage.Config{ID: "san", Type: "iscsi",
		Props: map[string]string{"portal": portal, "target": testIQN}},
		storage.Env{Node: "n1", Runner: r, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.root = filepath.Join(t.TempDir(), "empty")
	return s, r
}

func TestInfo(t *testing.T) {
	p := Plugin{}
	if p.Type() != "iscsi" {
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
		!reflect.DeepEqual(info.Content, []storage.Content{storage.Images}) || info.DefaultFormat != "raw" {
		t.Errorf("capabilities: %+v", info)
	}
}

func TestOpen(t *testing.T) {
	for _, c := range []struct {
		portal, target, err string
	}{
		{"10.10.10.1", "iqn.2006-01.openfiler.com:tsn.dcb5aaaddd", ""},
		{"nas.example.com:3261", testIQN, ""},
		{"fd00::1", testIQN, ""},
		{"", testIQN, "portal and target are required"},
		{"10.0.0.1", "", "portal and target are required"},
		{"10.0.0.1:0", testIQN, "invalid portal"},
		{"10.0.0.1", "iqn.a/b", "invalid iSCSI target name"},
		{"10.0.0.1", "--login", "invalid iSCSI target name"},
	} {
		_, err := Plugin{}.Open(storage.Config{ID: "san", Props: map[string]string{"portal": c.portal, "target": c.target}},
			storage.Env{Runner: &runner.Recorder{}})
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("Open(%q, %q) = %v, want %q", c.portal, c.target, err, c.err)
		}
	}
}

func TestActivate(t *testing.T) {
	tests := []struct {
		name   string
		portal string
		setup  func(r *runner.Recorder)
		want   []string
		err    string
	}{
		{
			name:   "no session: discover, limit retries, log in",
			portal: "127.0.0.1",
			setup: func(r *runner.Recorder) {
				r.Fail(sessionCmd, 21, fixture(t, "no-sessions.stderr"))
				r.On(nodeCmd, fixture(t, "node.txt"))
				r.On(discoveryCmd("127.0.0.1:3260"), fixture(t, "discovery.txt"))
				r.On(retryCmd, "")
				r.On(loginCmd, fixture(t, "login-ok.txt"))
			},
			want: []string{sessionCmd, nodeCmd, discoveryCmd("127.0.0.1:3260"), retryCmd, loginCmd},
		},
		{
			name:   "empty node database: the configured portal with the default port",
			portal: "10.10.10.1",
			setup: func(r *runner.Recorder) {
				r.On(sessionCmd, "tcp: [2] 10.10.10.1:3260,1 iqn.2003-01.org.linux-iscsi.nas.x8664:sn.00567885ba8f (non-flash)\n")
				r.Fail(nodeCmd, 21, fixture(t, "no-records.stderr"))
				r.On(discoveryCmd("10.10.10.1:3260"), "10.10.10.1:3260,1 "+testIQN+"\n")
				r.On(retryCmd, "")
				r.On(loginCmd, fixture(t, "login-ok.txt"))
			},
			want: []string{sessionCmd, nodeCmd, discoveryCmd("10.10.10.1:3260"), retryCmd, loginCmd},
		},
		{
			name:   "sessions on every portal: rescan them",
			portal: "127.0.0.1:3260",
			setup: func(r *runner.Recorder) {
				r.On(sessionCmd, fixture(t, "session.txt"))
				r.On(nodeCmd, fixture(t, "node.txt"))
				r.On("iscsiadm --mode session --sid 1 --rescan", "Rescanning session [sid: 1, target: "+testIQN+", portal: 127.0.0.1,3260]\n")
				r.On("iscsiadm --mode session --sid 3 --rescan", "Rescanning session [sid: 3, target: "+testIQN+", portal: fd00::5,3260]\n")
			},
			want: []string{sessionCmd, nodeCmd, "iscsiadm --mode session --sid 1 --rescan", "iscsiadm --mode session --sid 3 --rescan"},
		},
		{
			name:   "a portal without a session: log in again",
			portal: "127.0.0.1:3260",
			setup: func(r *runner.Recorder) {
				r.On(sessionCmd, "tcp: [1] 127.0.0.1:3260,1 "+testIQN+" (non-flash)\n")
				r.On(nodeCmd, fixture(t, "node.txt"))
				r.On(discoveryCmd("127.0.0.1:3260"), fixture(t, "discovery.txt"))
				r.On(retryCmd, "")
				r.Fail(loginCmd, 15, fixture(t, "login-exists.stderr"))
			},
			want: []string{sessionCmd, nodeCmd, discoveryCmd("127.0.0.1:3260"), retryCmd, loginCmd},
		},
		{
			name:   "discovery fails on the first portal, works on the second",
			portal: "127.0.0.1:3260",
			setup: func(r *runner.Recorder) {
				r.On(sessionCmd, "")
				r.On(nodeCmd, fixture(t, "node.txt"))
				r.Fail(discoveryCmd("127.0.0.1:3260"), 8, "iscsiadm: connection login retries (reopen_max) 5 exceeded\n")
				r.On(discoveryCmd("[fd00::5]:3260"), "[fd00::5]:3260,1 "+testIQN+"\n")
				r.On(retryCmd, "")
				r.On(loginCmd, fixture(t, "login-ok.txt"))
			},
			want: []string{sessionCmd, nodeCmd, discoveryCmd("127.0.0.1:3260"), discoveryCmd("[fd00::5]:3260"), retryCmd, loginCmd},
		},
		{
			name:   "login fails",
			portal: "127.0.0.1:13260",
			setup: func(r *runner.Recorder) {
				r.Fail(sessionCmd, 21, fixture(t, "no-sessions.stderr"))
				r.Fail(nodeCmd, 21, fixture(t, "no-records.stderr"))
				r.Fail(discoveryCmd("127.0.0.1:13260"), 12, fixture(t, "discovery-no-driver.stderr"))
				r.Fail(retryCmd, 21, fixture(t, "no-records.stderr"))
				r.Fail(loginCmd, 21, fixture(t, "no-records.stderr"))
			},
			want: []string{sessionCmd, nodeCmd, discoveryCmd("127.0.0.1:13260"), retryCmd, loginCmd},
			err: "storage san: log in to target " + testIQN + ": command '" + loginCmd +
				"' failed: exit code 21: iscsiadm: No records found; before that, iSCSI discovery on portal 127.0.0.1:13260: command '" +
				discoveryCmd("127.0.0.1:13260") + "' failed: exit code 12: iscsiadm: can not connect to iSCSI daemon (111)!",
		},
		{
			name:   "session listing fails",
			portal: "127.0.0.1",
			setup: func(r *runner.Recorder) {
				r.Fail(sessionCmd, 4, "iscsiadm: could not read session info\n")
			},
			want: []string{sessionCmd},
			err:  "storage san: activate: listing iSCSI sessions: command 'iscsiadm --mode session' failed: exit code 4",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := newTest(t, tt.portal)
			tt.setup(r)
			err := s.Activate(t.Context())
			if tt.err == "" && err != nil {
				t.Fatalf("Activate: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Activate error %v\nwant %q", err, tt.err)
			}
			if got := r.Lines(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestActivateRescanInterval: a second activation within ten seconds
// does not rescan; one after it does.
func TestActivateRescanInterval(t *testing.T) {
	s, r := newTest(t, "127.0.0.1")
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	r.On(sessionCmd, "tcp: [1] 127.0.0.1:3260,1 "+testIQN+" (non-flash)\n")
	r.On(nodeCmd, "127.0.0.1:3260,1 "+testIQN+"\n")
	r.On("iscsiadm --mode session --sid 1 --rescan", "")
	rescans := func() int {
		n := 0
		for _, l := range r.Lines() {
			if strings.HasSuffix(l, "--rescan") {
				n++
			}
		}
		return n
	}
	for i, step := range []struct {
		advance time.Duration
		want    int
	}{{0, 1}, {5 * time.Second, 1}, {6 * time.Second, 2}, {time.Second, 2}} {
		now = now.Add(step.advance)
		if err := s.Activate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := rescans(); got != step.want {
			t.Errorf("activation %d: %d rescans so far, want %d", i+1, got, step.want)
		}
	}
}

func TestDeactivate(t *testing.T) {
	s, r := newTest(t, "127.0.0.1")
	r.On(sessionCmd, fixture(t, "session.txt"))
	r.On(logoutCmd, fixture(t, "logout-ok.txt"))
	if err := s.Deactivate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := []string{sessionCmd, logoutCmd}; !reflect.DeepEqual(r.Lines(), want) {
		t.Errorf("commands %q, want %q", r.Lines(), want)
	}

	s, r = newTest(t, "127.0.0.1")
	r.Fail(sessionCmd, 21, fixture(t, "no-sessions.stderr"))
	if err := s.Deactivate(t.Context()); err != nil || !reflect.DeepEqual(r.Lines(), []string{sessionCmd}) {
		t.Errorf("Deactivate without a session: %v after %q", err, r.Lines())
	}

	s, r = newTest(t, "127.0.0.1")
	r.On(sessionCmd, fixture(t, "session.txt"))
	r.Fail(logoutCmd, 21, fixture(t, "no-matching-sessions.stderr"))
	if err := s.Deactivate(t.Context()); err != nil {
		t.Errorf("Deactivate racing another logout: %v", err)
	}
}

// notInstalled is a runner on a node without open-iscsi.
type notInstalled struct{}

func (notInstalled) Run(_ context.Context, c runner.Cmd) (runner.Result, error) {
	return runner.Result{}, errors.New("command '" + c.Name + "' is not installed on this node: executable file not found in $PATH")
}

func TestNotInstalled(t *testing.T) {
	s, _ := newTest(t, "127.0.0.1")
	s.r = notInstalled{}
	err := s.Activate(t.Context())
	if err == nil || !strings.Contains(err.Error(), "install the open-iscsi package") {
		t.Errorf("Activate without iscsiadm: %v", err)
	}
}

func TestDevicesAndVolumes(t *testing.T) {
	s, r := newTest(t, "127.0.0.1")
	s.root = standardTree(t)
	r.On(sessionCmd, fixture(t, "session.txt"))
	ctx := t.Context()

	all, err := devices(s.root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Device{
		testIQN: {
			{Target: testIQN, Channel: 0, ID: 0, LUN: 1, Block: "sdb", Stable: lun1ID, Size: 64 << 20},
			{Target: testIQN, Channel: 0, ID: 0, LUN: 2, Block: "dm-0", Stable: lun2ID, Size: 1536 << 20},
		},
		otherIQN: {{Target: otherIQN, Channel: 0, ID: 0, LUN: 1, Block: "sdd", Stable: otherID, Size: 10 << 20}},
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("devices = %+v\nwant %+v", all, want)
	}

	vols, err := s.List(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantVols := []storage.Volume{
		{Volname: "0.0.1." + lun1ID, Content: storage.Images, Format: "raw", Size: 64 << 20, Used: 64 << 20},
		{Volname: "0.0.2." + lun2ID, Content: storage.Images, Format: "raw", Size: 1536 << 20, Used: 1536 << 20},
	}
	if !reflect.DeepEqual(vols, wantVols) {
		t.Errorf("List = %+v\nwant %+v", vols, wantVols)
	}
	if vols, err := s.List(ctx, 100, nil); err != nil || len(vols) != 0 {
		t.Errorf("List(100) = %v, %v; LUNs belong to no guest", vols, err)
	}
	if vols, err := s.List(ctx, 0, []storage.Content{storage.Rootdir}); err != nil || len(vols) != 0 {
		t.Errorf("List(rootdir) = %v, %v", vols, err)
	}

	st, err := s.Status(ctx)
	if err != nil || st != (storage.Status{Active: true, Total: 1600 << 20, Used: 1600 << 20}) {
		t.Errorf("Status = %+v, %v", st, err)
	}

	v, err := s.Volume(ctx, "0.0.2."+lun2ID)
	if err != nil || v != wantVols[1] {
		t.Errorf("Volume = %+v, %v", v, err)
	}
	if _, err := s.Volume(ctx, "0.0.1."+otherID); err == nil || !strings.Contains(err.Error(), "no such LUN disk") {
		t.Errorf("Volume of another target's LUN: %v", err)
	}

	a, err := s.Attach(ctx, "0.0.1."+lun1ID, "")
	if err != nil {
		t.Fatal(err)
	}
	wantA := storage.Attachment{Path: "/dev/disk/by-id/" + lun1ID,
		Blockdev: map[string]any{"driver": "host_device", "filename": "/dev/disk/by-id/" + lun1ID}, Format: "raw"}
	if !reflect.DeepEqual(a, wantA) {
		t.Errorf("Attach = %+v, want %+v", a, wantA)
	}
	if _, err := s.Attach(ctx, "0.0.9.scsi-3missing", ""); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Attach of a missing device: %v", err)
	}
	if _, err := s.Attach(ctx, "0.0.1."+lun1ID, "snap"); err == nil {
		t.Error("Attach of a snapshot succeeded")
	}
}

func TestStatusWithoutSession(t *testing.T) {
	s, r := newTest(t, "127.0.0.1")
	s.root = standardTree(t)
	r.Fail(sessionCmd, 21, fixture(t, "no-sessions.stderr"))
	if st, err := s.Status(t.Context()); err != nil || st != (storage.Status{}) {
		t.Errorf("Status without a session = %+v, %v; want inactive", st, err)
	}
}

func TestNoInitiator(t *testing.T) {
	// A node without the kernel initiator has no /sys/class/iscsi_session.
	s, _ := newTest(t, "127.0.0.1")
	if vols, err := s.List(t.Context(), 0, nil); err != nil || len(vols) != 0 {
		t.Errorf("List = %v, %v", vols, err)
	}
}

func TestVolname(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"0.0.1.scsi-36001405abcdef", "scsi-36001405abcdef"},
		{"1.2.3.dm-uuid-mpath-3600", "dm-uuid-mpath-3600"},
		{"0.0.1..", ""},
		{"0.0.1...x", ""},
		{"0.0.1.a/../../etc", ""},
		{"0.0.1.", ""},
		{"0.0.scsi-3", ""},
		{"lun1", ""},
		{"0.0.1.scsi 3", ""},
	} {
		got, err := ParseVolname(c.in)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("ParseVolname(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestRefusals(t *testing.T) {
	s, r := newTest(t, "127.0.0.1")
	ctx := t.Context()
	if _, err := s.Alloc(ctx, 100, "", "raw", 1<<30); err == nil || !strings.Contains(err.Error(), "cannot allocate a disk for guest 100: LUNs are created on the target") {
		t.Errorf("Alloc: %v", err)
	}
	if err := s.Free(ctx, "0.0.1."+lun1ID); err == nil || !strings.Contains(err.Error(), "cannot free") {
		t.Errorf("Free: %v", err)
	}
	if err := s.Resize(ctx, "0.0.1."+lun1ID, 1<<30); err == nil || !strings.Contains(err.Error(), "cannot resize") {
		t.Errorf("Resize: %v", err)
	}
	if len(r.Lines()) != 0 {
		t.Errorf("commands run: %q", r.Lines())
	}
}

func TestDiscover(t *testing.T) {
	r := &runner.Recorder{}
	r.On(discoveryCmd("127.0.0.1:3260"), fixture(t, "discovery.txt")+"[fd00::5]:3260,1 "+testIQN+"\n")
	got, err := Discover(t.Context(), r, "127.0.0.1:3260")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{testIQN: {"127.0.0.1:3260", "[fd00::5]:3260"}, otherIQN: {"127.0.0.1:3260"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Discover = %v, want %v", got, want)
	}
	r.Fail(discoveryCmd("127.0.0.2"), 12, fixture(t, "discovery-no-driver.stderr"))
	if _, err := Discover(t.Context(), r, "127.0.0.2"); err == nil || !strings.Contains(err.Error(), "iSCSI driver tcp is not loaded") {
		t.Errorf("Discover error: %v", err)
	}
}
