package zfs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// ans answers one remote command line (the part after "ssh … root@host"):
// with stdout or a fixture file, or a failure with its standard error.
type ans struct {
	line, out, file, fail string
	code                  int
	stdin                 *[]byte
}

type plan struct {
	name     string
	provider string            // one of configs
	props    map[string]string // changes to it
	answers  []ans
	run      func(s *Storage) (any, error)
	want     []string // remote command lines
	err      string
	result   any
}

func sshPrefix(props map[string]string) string {
	host := strings.Split(props["portal"], ":")[0]
	return "ssh -o BatchMode=yes -i /keys/" + props["portal"] + "_id_rsa root@" + host + " "
}

func runPlans(t *testing.T, plans []plan) {
	t.Helper()
	for _, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			props := map[string]string{}
			for k, v := range configs[p.provider] {
				props[k] = v
			}
			for k, v := range p.props {
				props[k] = v
			}
			rec := &runner.Recorder{}
			st, err := NewPlugin("/keys").Open(storage.Config{ID: "zfs1", Type: "zfs", Props: props}, storage.Env{Node: "n1", Runner: rec})
			if err != nil {
				t.Fatal(err)
			}
			s := st.(*Storage)
			s.busyDelay = 0
			pre := sshPrefix(props)
			for _, a := range p.answers {
				out := a.out
				if a.file != "" {
					out = fixture(t, a.file)
				}
				switch {
				case a.fail != "":
					code := a.code
					if code == 0 {
						code = 1
					}
					rec.Fail(pre+a.line, code, a.fail)
				case a.stdin != nil:
					rec.Capture(pre+a.line, out, a.stdin)
				default:
					rec.On(pre+a.line, out)
				}
			}
			got, err := p.run(s)
			checkErr(t, err, p.err)
			if err != nil && !strings.Contains(err.Error(), "storage zfs1") {
				t.Errorf("the error does not name the storage: %v", err)
			}
			var lines []string
			for _, l := range rec.Lines() {
				r, ok := strings.CutPrefix(l, pre)
				if !ok {
					t.Fatalf("not a remote command of the target: %s", l)
				}
				lines = append(lines, r)
			}
			if !reflect.DeepEqual(lines, p.want) && (len(lines) > 0 || len(p.want) > 0) {
				t.Fatalf("commands:\n  %s\nwant:\n  %s", strings.Join(lines, "\n  "), strings.Join(p.want, "\n  "))
			}
			if p.result != nil && !reflect.DeepEqual(got, p.result) {
				t.Errorf("result %#v, want %#v", got, p.result)
			}
		})
	}
}

const (
	listCmd  = "zfs list -o name,volsize,origin,type,refquota -t volume,filesystem -d1 -Hp tank"
	stmfadm_ = "/usr/sbin/stmfadm "
	sbdList  = "/usr/sbin/sbdadm list-lu"
)

func alloc(vmid int, name string, size int64) func(s *Storage) (any, error) {
	return func(s *Storage) (any, error) { return s.Alloc(ctx, vmid, name, "raw", size) }
}

func free(v string) func(s *Storage) (any, error) {
	return func(s *Storage) (any, error) { return nil, s.Free(ctx, v) }
}

func attach(v string) func(s *Storage) (any, error) {
	return func(s *Storage) (any, error) { return s.Attach(ctx, v, "") }
}

func iscsi(provider string, lun int) storage.Attachment {
	c := configs[provider]
	return storage.Attachment{
		Path:     "iscsi://" + c["portal"] + "/" + c["target"] + "/" + string(rune('0'+lun)),
		Format:   "raw",
		Blockdev: map[string]any{"driver": "iscsi", "transport": "tcp", "portal": c["portal"], "target": c["target"], "lun": lun},
	}
}

func TestComstarPlan(t *testing.T) {
	dev1 := "/dev/zvol/rdsk/tank/vm-100-disk-1"
	g1 := GUID(dev1)
	ls := ans{line: listCmd, file: "list.txt"}
	create := "zfs create -b 4k -V 1048576k tank/vm-100-disk-1"
	runPlans(t, []plan{{
		name: "alloc: zvol, LU, view", provider: "comstar",
		answers: []ans{ls, {line: create}, {line: stmfadm_ + "create-lu -p wcd=false -o " + g1 + " " + dev1},
			{line: stmfadm_ + "add-view --host-group pve-nodes " + g1}},
		run:    alloc(100, "", 1<<30),
		want:   []string{listCmd, create, stmfadm_ + "create-lu -p wcd=false -o " + g1 + " " + dev1, stmfadm_ + "add-view --host-group pve-nodes " + g1},
		result: "vm-100-disk-1",
	}, {
		name: "alloc: the view fails, LU and zvol go again", provider: "comstar",
		props: map[string]string{"nowritecache": "1", "comstar_tg": "tg1"},
		answers: []ans{ls, {line: create}, {line: stmfadm_ + "create-lu -p wcd=true -o " + g1 + " " + dev1},
			{line: stmfadm_ + "add-view --host-group pve-nodes --target-group tg1 " + g1, fail: "stmfadm: tg1: not found\n"},
			{line: stmfadm_ + "delete-lu " + g1}, {line: "zfs destroy -r tank/vm-100-disk-1"}},
		run: alloc(100, "", 1<<30),
		want: []string{listCmd, create, stmfadm_ + "create-lu -p wcd=true -o " + g1 + " " + dev1,
			stmfadm_ + "add-view --host-group pve-nodes --target-group tg1 " + g1, stmfadm_ + "delete-lu " + g1, "zfs destroy -r tank/vm-100-disk-1"},
		err: "adding the view of vm-100-disk-1 failed",
	}, {
		name: "alloc never over an existing zvol", provider: "comstar", answers: []ans{ls},
		run: alloc(100, "vm-100-disk-0", 1<<30), want: []string{listCmd}, err: "already exists",
	}, {
		name: "alloc refuses another guest's name", provider: "comstar", run: alloc(100, "vm-101-disk-9", 1<<30), err: "belongs to guest 101",
	}, {
		name: "alloc refuses a path", provider: "comstar", run: alloc(100, "../vm-100-disk-9", 1<<30), err: "illegal zfs volume name",
	}, {
		name: "attach", provider: "comstar",
		answers: []ans{{line: sbdList, file: "sbdadm_list_lu.txt"}, {line: stmfadm_ + "list-view -l 600144f090e75122aba73c6be361cbb0", file: "stmfadm_list_view.txt"}},
		run:     attach("vm-100-disk-0"),
		want:    []string{sbdList, stmfadm_ + "list-view -l 600144f090e75122aba73c6be361cbb0"},
		result:  iscsi("comstar", 2),
	}, {
		name: "attach: not exported", provider: "comstar", answers: []ans{{line: sbdList, file: "sbdadm_list_lu.txt"}},
		run: attach("vm-100-disk-5"), want: []string{sbdList}, err: "not exported as a LUN",
	}, {
		name: "free: LU, then zvol", provider: "comstar",
		answers: []ans{{line: sbdList, file: "sbdadm_list_lu.txt"}, {line: stmfadm_ + "delete-lu 600144f090e75122aba73c6be361cbb0"},
			{line: "zfs destroy -r tank/vm-100-disk-0"}},
		run:  free("vm-100-disk-0"),
		want: []string{sbdList, stmfadm_ + "delete-lu 600144f090e75122aba73c6be361cbb0", "zfs destroy -r tank/vm-100-disk-0"},
	}, {
		name: "free: a zvol with clones keeps its LU", provider: "comstar",
		answers: []ans{{line: sbdList, file: "sbdadm_list_lu.txt"}, {line: stmfadm_ + "delete-lu 600144f32a9dc83debc550492ba54e55"},
			{line: "zfs destroy -r tank/base-101-disk-0", fail: "cannot destroy 'tank/base-101-disk-0': filesystem has dependent clones\n"},
			{line: stmfadm_ + "create-lu -p wcd=false -o " + GUID("/dev/zvol/rdsk/tank/base-101-disk-0") + " /dev/zvol/rdsk/tank/base-101-disk-0"},
			{line: stmfadm_ + "add-view --host-group pve-nodes " + GUID("/dev/zvol/rdsk/tank/base-101-disk-0")}},
		run: free("base-101-disk-0"),
		want: []string{sbdList, stmfadm_ + "delete-lu 600144f32a9dc83debc550492ba54e55", "zfs destroy -r tank/base-101-disk-0",
			stmfadm_ + "create-lu -p wcd=false -o " + GUID("/dev/zvol/rdsk/tank/base-101-disk-0") + " /dev/zvol/rdsk/tank/base-101-disk-0",
			stmfadm_ + "add-view --host-group pve-nodes " + GUID("/dev/zvol/rdsk/tank/base-101-disk-0")},
		err: "dependent clones",
	}, {
		name: "resize: volsize, then the LU", provider: "comstar",
		answers: []ans{{line: "zfs set volsize=2097152k tank/vm-100-disk-0"}, {line: sbdList, file: "sbdadm_list_lu.txt"},
			{line: stmfadm_ + "modify-lu -s 2097152K 600144f090e75122aba73c6be361cbb0"}},
		run:  func(s *Storage) (any, error) { return nil, s.Resize(ctx, "vm-100-disk-0", 2<<30) },
		want: []string{"zfs set volsize=2097152k tank/vm-100-disk-0", sbdList, stmfadm_ + "modify-lu -s 2097152K 600144f090e75122aba73c6be361cbb0"},
	}, {
		name: "rollback: LU out, rollback, LU back", provider: "comstar",
		answers: []ans{{line: "zfs list -H -r -t snapshot -o name -s creation tank/vm-100-disk-0", out: "tank/vm-100-disk-0@a\ntank/vm-100-disk-0@b\n"},
			{line: sbdList, file: "sbdadm_list_lu.txt"}, {line: stmfadm_ + "delete-lu 600144f090e75122aba73c6be361cbb0"},
			{line: "zfs rollback tank/vm-100-disk-0@b"}, {line: stmfadm_ + "import-lu /dev/zvol/rdsk/tank/vm-100-disk-0"},
			{line: stmfadm_ + "add-view --host-group pve-nodes 600144f090e75122aba73c6be361cbb0"}},
		run: func(s *Storage) (any, error) { return nil, s.Rollback(ctx, "vm-100-disk-0", "b") },
		want: []string{"zfs list -H -r -t snapshot -o name -s creation tank/vm-100-disk-0", sbdList,
			stmfadm_ + "delete-lu 600144f090e75122aba73c6be361cbb0", "zfs rollback tank/vm-100-disk-0@b",
			stmfadm_ + "import-lu /dev/zvol/rdsk/tank/vm-100-disk-0", sbdList,
			stmfadm_ + "add-view --host-group pve-nodes 600144f090e75122aba73c6be361cbb0"},
	}, {
		name: "rollback refuses an older snapshot", provider: "comstar",
		answers: []ans{{line: "zfs list -H -r -t snapshot -o name -s creation tank/vm-100-disk-0", out: "tank/vm-100-disk-0@a\ntank/vm-100-disk-0@b\n"}},
		run:     func(s *Storage) (any, error) { return nil, s.Rollback(ctx, "vm-100-disk-0", "a") },
		want:    []string{"zfs list -H -r -t snapshot -o name -s creation tank/vm-100-disk-0"},
		err:     "not the most recent one",
	}, {
		name: "snapshot and its name", provider: "comstar", answers: []ans{{line: "zfs snapshot tank/vm-100-disk-0@s1"}},
		run:  func(s *Storage) (any, error) { return nil, s.Snapshot(ctx, "vm-100-disk-0", "s1") },
		want: []string{"zfs snapshot tank/vm-100-disk-0@s1"},
	}, {
		name: "snapshot name with a shell character", provider: "comstar",
		run: func(s *Storage) (any, error) { return nil, s.Snapshot(ctx, "vm-100-disk-0", "s1;reboot") }, err: "illegal snapshot name",
	}, {
		name: "delete snapshot", provider: "comstar", answers: []ans{{line: "zfs destroy tank/vm-100-disk-0@s1"}},
		run:  func(s *Storage) (any, error) { return nil, s.DeleteSnapshot(ctx, "vm-100-disk-0", "s1") },
		want: []string{"zfs destroy tank/vm-100-disk-0@s1"},
	}, {
		name: "status", provider: "comstar", answers: []ans{{line: "zfs get -o value -Hp available,used tank", out: "1000\n24\n"}},
		run:    func(s *Storage) (any, error) { return s.Status(ctx) },
		want:   []string{"zfs get -o value -Hp available,used tank"},
		result: storage.Status{Active: true, Avail: 1000, Used: 24, Total: 1024},
	}, {
		name: "status: ssh cannot connect", provider: "comstar",
		answers: []ans{{line: "zfs get -o value -Hp available,used tank", fail: "ssh: connect to host 192.0.2.112 port 22: No route to host\n", code: 255}},
		run:     func(s *Storage) (any, error) { return s.Status(ctx) },
		want:    []string{"zfs get -o value -Hp available,used tank"},
		err:     "No route to host",
	}, {
		name: "status: the pool is gone", provider: "comstar",
		answers: []ans{{line: "zfs get -o value -Hp available,used tank", fail: "cannot open 'tank': dataset does not exist\n"}},
		run:     func(s *Storage) (any, error) { return s.Status(ctx) },
		want:    []string{"zfs get -o value -Hp available,used tank"},
		result:  storage.Status{},
	}})
}

func TestCreateBaseClonePlan(t *testing.T) {
	dev := "/dev/zvol/rdsk/tank/vm-101-disk-0"
	bdev := "/dev/zvol/rdsk/tank/base-101-disk-0"
	guid := "600144fa45467b760d18a8c463549378"
	sbd := ans{line: sbdList, file: "sbdadm_list_lu.txt"}
	base := []string{sbdList, stmfadm_ + "delete-lu " + guid, "zfs rename tank/vm-101-disk-0 tank/base-101-disk-0",
		stmfadm_ + "create-lu -p wcd=false -o " + GUID(bdev) + " " + bdev, stmfadm_ + "add-view --host-group pve-nodes " + GUID(bdev),
		"zfs snapshot tank/base-101-disk-0@__base__"}
	baseAnswers := func(snap ans) []ans {
		return []ans{sbd, {line: base[1]}, {line: base[2]}, {line: base[3]}, {line: base[4]}, snap}
	}
	ls := ans{line: listCmd, file: "list.txt"}
	runPlans(t, []plan{{
		name: "create base", provider: "comstar", answers: baseAnswers(ans{line: base[5]}),
		run:    func(s *Storage) (any, error) { return s.CreateBase(ctx, "vm-101-disk-0") },
		want:   base,
		result: "base-101-disk-0",
	}, {
		name: "create base: the snapshot fails, all undone", provider: "comstar",
		answers: append(baseAnswers(ans{line: base[5], fail: "cannot create snapshot: out of space\n"}),
			// The base's LU is found by its name in the (unchanged) listing.
			ans{line: stmfadm_ + "delete-lu 600144f32a9dc83debc550492ba54e55"},
			ans{line: "zfs rename tank/base-101-disk-0 tank/vm-101-disk-0"},
			ans{line: stmfadm_ + "create-lu -p wcd=false -o " + GUID(dev) + " " + dev},
			ans{line: stmfadm_ + "add-view --host-group pve-nodes " + GUID(dev)}),
		run: func(s *Storage) (any, error) { return s.CreateBase(ctx, "vm-101-disk-0") },
		want: append(append([]string{}, base...), sbdList, stmfadm_+"delete-lu 600144f32a9dc83debc550492ba54e55",
			"zfs rename tank/base-101-disk-0 tank/vm-101-disk-0", stmfadm_+"create-lu -p wcd=false -o "+GUID(dev)+" "+dev,
			stmfadm_+"add-view --host-group pve-nodes "+GUID(dev)),
		err: "out of space",
	}, {
		name: "clone", provider: "comstar",
		answers: []ans{ls, {line: "zfs clone tank/base-101-disk-0@__base__ tank/vm-200-disk-0"},
			{line: stmfadm_ + "create-lu -p wcd=false -o " + GUID("/dev/zvol/rdsk/tank/vm-200-disk-0") + " /dev/zvol/rdsk/tank/vm-200-disk-0"},
			{line: stmfadm_ + "add-view --host-group pve-nodes " + GUID("/dev/zvol/rdsk/tank/vm-200-disk-0")}},
		run: func(s *Storage) (any, error) { return s.Clone(ctx, "base-101-disk-0", 200, "") },
		want: []string{listCmd, "zfs clone tank/base-101-disk-0@__base__ tank/vm-200-disk-0",
			stmfadm_ + "create-lu -p wcd=false -o " + GUID("/dev/zvol/rdsk/tank/vm-200-disk-0") + " /dev/zvol/rdsk/tank/vm-200-disk-0",
			stmfadm_ + "add-view --host-group pve-nodes " + GUID("/dev/zvol/rdsk/tank/vm-200-disk-0")},
		result: "base-101-disk-0/vm-200-disk-0",
	}, {
		name: "clone: export fails, the clone goes", provider: "comstar",
		answers: []ans{ls, {line: "zfs clone tank/base-101-disk-0@__base__ tank/vm-200-disk-0"},
			{line: stmfadm_ + "create-lu -p wcd=false -o " + GUID("/dev/zvol/rdsk/tank/vm-200-disk-0") + " /dev/zvol/rdsk/tank/vm-200-disk-0", fail: "stmfadm: meta file error\n"},
			{line: "zfs destroy -r tank/vm-200-disk-0"}},
		run: func(s *Storage) (any, error) { return s.Clone(ctx, "base-101-disk-0", 200, "") },
		want: []string{listCmd, "zfs clone tank/base-101-disk-0@__base__ tank/vm-200-disk-0",
			stmfadm_ + "create-lu -p wcd=false -o " + GUID("/dev/zvol/rdsk/tank/vm-200-disk-0") + " /dev/zvol/rdsk/tank/vm-200-disk-0",
			"zfs destroy -r tank/vm-200-disk-0"},
		err: "meta file error",
	}, {
		name: "clone of a non-base", provider: "comstar",
		run: func(s *Storage) (any, error) { return s.Clone(ctx, "vm-100-disk-0", 200, "") }, err: "template bases",
	}})
}

func TestLIOPlan(t *testing.T) {
	cat := ans{line: "cat /etc/rtslib-fb-target/saveconfig.json", file: "saveconfig.json"}
	tc := "-- /usr/bin/targetcli "
	luns := "/iscsi/iqn.2003-01.org.linux-iscsi.san1.x8664:sn.0123456789ab/tpg1/luns/"
	create := "zfs create -s -b 4k -V 1048576k tank/vm-100-disk-1"
	runPlans(t, []plan{{
		name: "alloc: backstore, LUN, save", provider: "LIO",
		answers: []ans{{line: listCmd, file: "list.txt"}, {line: create}, cat,
			{line: tc + "/backstores/block create name=tank-vm-100-disk-1 dev=/dev/zvol/tank/vm-100-disk-1"},
			{line: tc + "/backstores/block/tank-vm-100-disk-1 set attribute emulate_tpu=1"},
			{line: tc + luns + " create /backstores/block/tank-vm-100-disk-1", file: "targetcli_lun_create.txt"},
			{line: tc + "saveconfig"}},
		run: alloc(100, "", 1<<30),
		want: []string{listCmd, create, "cat /etc/rtslib-fb-target/saveconfig.json",
			tc + "/backstores/block create name=tank-vm-100-disk-1 dev=/dev/zvol/tank/vm-100-disk-1",
			tc + "/backstores/block/tank-vm-100-disk-1 set attribute emulate_tpu=1",
			tc + luns + " create /backstores/block/tank-vm-100-disk-1", tc + "saveconfig"},
		result: "vm-100-disk-1",
	}, {
		name: "alloc: the LUN fails, backstore and zvol go", provider: "LIO",
		answers: []ans{{line: listCmd, file: "list.txt"}, {line: create}, cat,
			{line: tc + "/backstores/block create name=tank-vm-100-disk-1 dev=/dev/zvol/tank/vm-100-disk-1"},
			{line: tc + "/backstores/block/tank-vm-100-disk-1 set attribute emulate_tpu=1"},
			{line: tc + luns + " create /backstores/block/tank-vm-100-disk-1", fail: "No such path /iscsi/…/tpg1\n"},
			{line: tc + "/backstores/block delete tank-vm-100-disk-1"},
			{line: "zfs destroy -r tank/vm-100-disk-1"}},
		run: alloc(100, "", 1<<30),
		want: []string{listCmd, create, "cat /etc/rtslib-fb-target/saveconfig.json",
			tc + "/backstores/block create name=tank-vm-100-disk-1 dev=/dev/zvol/tank/vm-100-disk-1",
			tc + "/backstores/block/tank-vm-100-disk-1 set attribute emulate_tpu=1",
			tc + luns + " create /backstores/block/tank-vm-100-disk-1",
			tc + "/backstores/block delete tank-vm-100-disk-1", "zfs destroy -r tank/vm-100-disk-1"},
		err: "exporting vm-100-disk-1 as a LUN failed",
	}, {
		name: "attach a LUN of an older, unprefixed backstore", provider: "LIO", answers: []ans{cat},
		run: attach("vm-101-disk-0"), want: []string{"cat /etc/rtslib-fb-target/saveconfig.json"}, result: iscsi("LIO", 3),
	}, {
		name: "attach: the configuration is elsewhere", provider: "LIO",
		answers: []ans{{line: "cat /etc/rtslib-fb-target/saveconfig.json", fail: "cat: /etc/rtslib-fb-target/saveconfig.json: No such file or directory\n"},
			{line: "cat /etc/target/saveconfig.json", file: "saveconfig.json"}},
		run:    attach("base-101-disk-0"),
		want:   []string{"cat /etc/rtslib-fb-target/saveconfig.json", "cat /etc/target/saveconfig.json"},
		result: iscsi("LIO", 4),
	}, {
		name: "free", provider: "LIO",
		answers: []ans{cat, {line: tc + luns + " delete lun0"}, {line: tc + "/backstores/block delete tank-vm-100-disk-0"},
			{line: tc + "saveconfig"}, {line: "zfs destroy -r tank/vm-100-disk-0"}},
		run: free("vm-100-disk-0"),
		want: []string{"cat /etc/rtslib-fb-target/saveconfig.json", tc + luns + " delete lun0",
			tc + "/backstores/block delete tank-vm-100-disk-0", tc + "saveconfig", "zfs destroy -r tank/vm-100-disk-0"},
	}})
}

func TestIstgtPlan(t *testing.T) {
	const conf = "/usr/local/etc/istgt/istgt.conf"
	write := "cat '>' " + conf + ".hearth-new '&&' mv " + conf + ".hearth-new " + conf
	var written []byte
	original := fixture(t, "istgt.conf")
	runPlans(t, []plan{{
		name: "alloc: a LUN line, reload", provider: "istgt",
		answers: []ans{{line: listCmd, file: "list.txt"}, {line: "zfs create -b 4k -V 1048576k tank/vm-100-disk-1"},
			{line: "cat " + conf, file: "istgt.conf"}, {line: write, stdin: &written}, {line: "/usr/local/etc/rc.d/istgt onereload"}},
		run: alloc(100, "", 1<<30),
		want: []string{listCmd, "zfs create -b 4k -V 1048576k tank/vm-100-disk-1", "cat " + conf, write,
			"/usr/local/etc/rc.d/istgt onereload"},
		result: "vm-100-disk-1",
	}})
	want, _ := IstgtAdd(original, configs["istgt"]["target"], 2, "/dev/zvol/tank/vm-100-disk-1", true)
	if string(written) != want || !strings.Contains(want, "LUN2 Option WriteCache Disable") {
		t.Errorf("written configuration:\n%s", written)
	}

	const nas = "/var/etc/iscsi/istgt.conf"
	nasWrite := "cat '>' " + nas + ".hearth-new '&&' mv " + nas + ".hearth-new " + nas
	written = nil
	runPlans(t, []plan{{
		name: "free on NAS4Free", provider: "istgt",
		answers: []ans{{line: "cat " + conf, fail: "cat: " + conf + ": No such file or directory\n"}, {line: "cat " + nas, file: "istgt.conf"},
			{line: nasWrite, stdin: &written}, {line: "/var/etc/rc.d/istgt onereload"}, {line: "zfs destroy -r tank/vm-101-disk-0"}},
		run:  free("vm-101-disk-0"),
		want: []string{"cat " + conf, "cat " + nas, nasWrite, "/var/etc/rc.d/istgt onereload", "zfs destroy -r tank/vm-101-disk-0"},
	}, {
		name: "attach", provider: "istgt", answers: []ans{{line: "cat " + conf, file: "istgt.conf"}},
		run: attach("base-101-disk-0"), want: []string{"cat " + conf}, result: iscsi("istgt", 3),
	}, {
		name: "resize reloads", provider: "istgt",
		answers: []ans{{line: "zfs set volsize=2097152k tank/vm-100-disk-0"}, {line: "cat " + conf, file: "istgt.conf"},
			{line: "/usr/local/etc/rc.d/istgt onereload"}},
		run:  func(s *Storage) (any, error) { return nil, s.Resize(ctx, "vm-100-disk-0", 2<<30) },
		want: []string{"zfs set volsize=2097152k tank/vm-100-disk-0", "cat " + conf, "/usr/local/etc/rc.d/istgt onereload"},
	}, {
		name: "no istgt on the host", provider: "istgt",
		answers: []ans{{line: "cat " + conf, fail: "No such file or directory\n"}, {line: "cat " + nas, fail: "No such file or directory\n"}},
		run:     attach("vm-100-disk-0"), want: []string{"cat " + conf, "cat " + nas},
		err: "no target configuration on 192.0.2.113",
	}})
	if strings.Contains(string(written), "vm-101-disk-0") || !strings.Contains(string(written), "LUN0 Storage /dev/zvol/tank/vm-100-disk-0") {
		t.Errorf("written configuration:\n%s", written)
	}
}

func TestIETPlan(t *testing.T) {
	const conf = "/etc/ietd.conf"
	write := "cat '>' " + conf + ".hearth-new '&&' mv " + conf + ".hearth-new " + conf
	cat := []ans{{line: "cat /etc/iet/ietd.conf", fail: "cat: /etc/iet/ietd.conf: No such file or directory\n"}, {line: "cat " + conf, file: "ietd.conf"}}
	cats := []string{"cat /etc/iet/ietd.conf", "cat " + conf}
	proc := ans{line: "cat /proc/net/iet/volume", file: "iet_volume.txt"}
	create := "zfs create -b 8k -V 1048576k tank/vm-100-disk-1"
	newLun := "/usr/sbin/ietadm --op new --tid=1 --lun=3 --params Path=/dev/tank/vm-100-disk-1,Type=blockio"
	var written []byte
	runPlans(t, []plan{{
		name: "alloc: a LUN the running target does not use, then the file", provider: "iet",
		answers: append(append([]ans{{line: listCmd, file: "list.txt"}, {line: create}}, cat...), proc, ans{line: newLun}, ans{line: write, stdin: &written}),
		run:     alloc(100, "", 1<<30),
		want:    append(append([]string{listCmd, create}, cats...), "cat /proc/net/iet/volume", newLun, write),
		result:  "vm-100-disk-1",
	}})
	if want, _ := IETAdd(fixture(t, "ietd.conf"), configs["iet"]["target"], 3, "/dev/tank/vm-100-disk-1"); string(written) != want {
		t.Errorf("written configuration:\n%s", written)
	}
	runPlans(t, []plan{{
		name: "alloc: the file cannot be written, LUN and zvol go", provider: "iet",
		answers: append(append([]ans{{line: listCmd, file: "list.txt"}, {line: create}}, cat...), proc, ans{line: newLun},
			ans{line: write, fail: "sh: cannot create /etc/ietd.conf.hearth-new: Read-only file system\n"},
			ans{line: "/usr/sbin/ietadm --op delete --tid=1 --lun=3"}, ans{line: "zfs destroy -r tank/vm-100-disk-1"}),
		run: alloc(100, "", 1<<30),
		want: append(append([]string{listCmd, create}, cats...), "cat /proc/net/iet/volume", newLun, write,
			"/usr/sbin/ietadm --op delete --tid=1 --lun=3", "zfs destroy -r tank/vm-100-disk-1"),
		err: "Read-only file system",
	}, {
		name: "free", provider: "iet",
		answers: append(append([]ans{}, cat...), proc, ans{line: "/usr/sbin/ietadm --op delete --tid=1 --lun=0"}, ans{line: write},
			ans{line: "zfs destroy -r tank/vm-100-disk-0"}),
		run:  free("vm-100-disk-0"),
		want: append(append([]string{}, cats...), "cat /proc/net/iet/volume", "/usr/sbin/ietadm --op delete --tid=1 --lun=0", write, "zfs destroy -r tank/vm-100-disk-0"),
	}, {
		name: "resize makes the LUN again", provider: "iet",
		answers: append(append([]ans{{line: "zfs set volsize=2097152k tank/vm-101-disk-0"}}, cat...), proc,
			ans{line: "/usr/sbin/ietadm --op delete --tid=1 --lun=1"},
			ans{line: "/usr/sbin/ietadm --op new --tid=1 --lun=1 --params Path=/dev/tank/vm-101-disk-0,Type=blockio"}),
		run: func(s *Storage) (any, error) { return nil, s.Resize(ctx, "vm-101-disk-0", 2<<30) },
		want: append(append([]string{"zfs set volsize=2097152k tank/vm-101-disk-0"}, cats...), "cat /proc/net/iet/volume",
			"/usr/sbin/ietadm --op delete --tid=1 --lun=1", "/usr/sbin/ietadm --op new --tid=1 --lun=1 --params Path=/dev/tank/vm-101-disk-0,Type=blockio"),
	}, {
		name: "attach", provider: "iet", answers: cat,
		run: attach("vm-101-disk-0"), want: cats, result: iscsi("iet", 1),
	}})
}
