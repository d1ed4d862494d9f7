package rbd

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/internal/runner"
	"github.com/hearth-virt/hearth/internal/storage"
)

// rbdPrefix is the start of every rbd command of the default test
// storage: an external cluster with a keyring.
const rbdPrefix = "rbd -p rbd -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring"

const enoent = "rbd: error opening image x: (2) No such file or directory\n"

// ans is one answer of the fake tools: stdout (or a fixture file), or a
// failure with its standard error.
type ans struct {
	line, out, file, fail string
}

type plan struct {
	name    string
	props   map[string]string
	secret  *string // nil: the keyring
	mapped  []string
	answers []ans
	run     func(s *Storage) (any, error)
	want    []string // command lines, @RBD@ and @STATE@ expanded
	err     string
	result  any
	check   func(t *testing.T, got any, state string)
}

func (p plan) open(t *testing.T) (*Storage, *runner.Recorder, string) {
	t.Helper()
	state := t.TempDir()
	props := map[string]string{"monhost": "10.1.1.20 10.1.1.21:3300"}
	for k, v := range p.props {
		props[k] = v
	}
	secret := keyring
	if p.secret != nil {
		secret = *p.secret
	}
	rec := &runner.Recorder{}
	st, err := Plugin{}.Open(storage.Config{ID: "ceph1", Type: "rbd", Props: props, Secret: secret}, storage.Env{Node: "n1", Runner: rec, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Storage)
	s.isDevice = func(path string) bool { return slices.Contains(p.mapped, path) }
	return s, rec, state
}

func runPlans(t *testing.T, plans []plan) {
	t.Helper()
	for _, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			s, rec, state := p.open(t)
			x := func(l string) string {
				return strings.ReplaceAll(strings.ReplaceAll(l, "@RBD@", rbdPrefix), "@STATE@", state)
			}
			for _, a := range p.answers {
				out := a.out
				if a.file != "" {
					out = fixture(t, a.file)
				}
				if a.fail != "" {
					rec.Fail(x(a.line), 2, a.fail)
				} else {
					rec.On(x(a.line), out)
				}
			}
			got, err := p.run(s)
			checkErr(t, err, p.err)
			if err != nil && !strings.Contains(err.Error(), "storage 'ceph1'") {
				t.Errorf("the error does not name the storage: %v", err)
			}
			var want []string
			for _, l := range p.want {
				want = append(want, x(l))
			}
			if lines := rec.Lines(); !reflect.DeepEqual(lines, want) && (len(lines) > 0 || len(want) > 0) {
				t.Fatalf("commands:\n  %s\nwant:\n  %s", strings.Join(lines, "\n  "), strings.Join(want, "\n  "))
			}
			for _, l := range rec.Lines() {
				if strings.Contains(l, key) {
					t.Fatalf("the key is on a command line: %s", l)
				}
			}
			if p.result != nil && !reflect.DeepEqual(got, p.result) {
				t.Errorf("result %#v, want %#v", got, p.result)
			}
			if p.check != nil {
				p.check(t, got, state)
			}
		})
	}
}

var ctx = context.Background()

func TestListPlan(t *testing.T) {
	ls := ans{line: "@RBD@ ls -l --format json", file: "ls.json"}
	runPlans(t, []plan{{
		name: "one guest", answers: []ans{ls},
		run:  func(s *Storage) (any, error) { return s.List(ctx, 100, nil) },
		want: []string{"@RBD@ ls -l --format json"},
		result: []storage.Volume{
			{Volname: "vm-100-cloudinit", Content: storage.Images, Format: "raw", Size: 4194304, VMID: 100},
			{Volname: "vm-100-disk-0", Content: storage.Images, Format: "raw", Size: 34359738368, VMID: 100},
		},
	}, {
		name: "container volumes", answers: []ans{ls},
		run:  func(s *Storage) (any, error) { return s.List(ctx, 102, []storage.Content{storage.Rootdir}) },
		want: []string{"@RBD@ ls -l --format json"},
		result: []storage.Volume{{Volname: "base-101-disk-0/vm-102-disk-0", Content: storage.Rootdir, Format: "raw", Size: 10737418240,
			VMID: 102, Parent: "base-101-disk-0"}},
	}, {
		name: "content it does not hold", answers: []ans{ls},
		run:    func(s *Storage) (any, error) { return s.List(ctx, 0, []storage.Content{storage.ISO}) },
		want:   []string{"@RBD@ ls -l --format json"},
		result: []storage.Volume(nil),
	}, {
		name: "pool missing", answers: []ans{{line: "@RBD@ ls -l --format json", fail: "rbd: error opening pool 'rbd': (2) No such file or directory\n"}},
		run:  func(s *Storage) (any, error) { return s.List(ctx, 0, nil) },
		want: []string{"@RBD@ ls -l --format json"},
		err:  "list volumes: command 'rbd",
	}, {
		name: "local cluster without secret", secret: new(string), props: map[string]string{"monhost": "", "pool": "vms", "namespace": "team-a"},
		answers: []ans{{line: "rbd -p vms --namespace team-a ls -l --format json", out: "[]"}},
		run:     func(s *Storage) (any, error) { return s.List(ctx, 0, nil) },
		want:    []string{"rbd -p vms --namespace team-a ls -l --format json"},
		result:  []storage.Volume(nil),
	}, {
		name: "external cluster without cephx", secret: new(string), props: map[string]string{"monhost": "10.1.1.20"},
		answers: []ans{{line: "rbd -p rbd -m 10.1.1.20 --auth_supported none ls -l --format json", out: ""}},
		run:     func(s *Storage) (any, error) { return s.List(ctx, 0, nil) },
		want:    []string{"rbd -p rbd -m 10.1.1.20 --auth_supported none ls -l --format json"},
		result:  []storage.Volume(nil),
	}})
}

func TestAllocFreePlan(t *testing.T) {
	ls := ans{line: "@RBD@ ls -l --format json", file: "ls.json"}
	lsCmd := "@RBD@ ls -l --format json"
	alloc := func(vmid int, name, format string, size int64) func(s *Storage) (any, error) {
		return func(s *Storage) (any, error) { return s.Alloc(ctx, vmid, name, format, size) }
	}
	free := func(v string) func(s *Storage) (any, error) {
		return func(s *Storage) (any, error) { return nil, s.Free(ctx, v) }
	}
	runPlans(t, []plan{{
		name: "next free name, size rounded up to MiB", answers: []ans{ls, {line: "@RBD@ create --image-format 2 --size 4097 vm-100-disk-1"}},
		run:    alloc(100, "", "", 4<<30+1),
		want:   []string{lsCmd, "@RBD@ create --image-format 2 --size 4097 vm-100-disk-1"},
		result: "vm-100-disk-1",
	}, {
		name: "given name, data pool", props: map[string]string{"data-pool": "rbd-ec-data"},
		answers: []ans{ls, {line: "@RBD@ create --image-format 2 --size 1024 --data-pool rbd-ec-data vm-105-disk-3"}},
		run:     alloc(105, "vm-105-disk-3", "raw", 1<<30),
		want:    []string{lsCmd, "@RBD@ create --image-format 2 --size 1024 --data-pool rbd-ec-data vm-105-disk-3"},
		result:  "vm-105-disk-3",
	}, {
		name: "never over an existing image", answers: []ans{ls},
		run: alloc(100, "vm-100-disk-0", "raw", 1<<30), want: []string{lsCmd}, err: "allocate vm-100-disk-0: the volume already exists",
	}, {
		name: "another guest's name", run: alloc(100, "vm-101-disk-0", "raw", 1<<30), err: "belongs to guest 101, not 100",
	}, {
		name: "base name", run: alloc(100, "base-100-disk-5", "raw", 1<<30), err: "a new image is named vm-100-<name>",
	}, {
		name: "path in the name", run: alloc(100, "../vm-100-disk-0", "raw", 1<<30), err: "illegal volume name",
	}, {
		name: "slash in the name", run: alloc(100, "rbd/vm-100-disk-0", "raw", 1<<30), err: "illegal volume name",
	}, {
		name: "qcow2", run: alloc(100, "", "qcow2", 1<<30), err: "rbd holds raw images only",
	}, {
		name: "no size", run: alloc(100, "", "raw", 0), err: "invalid size 0",
	}, {
		name: "create fails", answers: []ans{ls, {line: "@RBD@ create --image-format 2 --size 1 vm-100-disk-1", fail: "rbd: create error: (95) Operation not supported\n"}},
		run:  alloc(100, "", "raw", 512),
		want: []string{lsCmd, "@RBD@ create --image-format 2 --size 1 vm-100-disk-1"},
		err:  "storage 'ceph1': create image vm-100-disk-1: command 'rbd",
	}, {
		name: "free: unprotect, unmap, purge, remove", mapped: []string{"/dev/rbd/rbd/vm-100-disk-0"},
		answers: []ans{
			{line: "@RBD@ snap ls vm-100-disk-0 --format json", file: "snap_ls.json"},
			{line: "@RBD@ snap unprotect vm-100-disk-0 --snap golden"},
			{line: "@RBD@ unmap /dev/rbd/rbd/vm-100-disk-0"},
			{line: "@RBD@ snap purge vm-100-disk-0"},
			{line: "@RBD@ rm vm-100-disk-0"},
		},
		run: free("vm-100-disk-0"),
		want: []string{"@RBD@ snap ls vm-100-disk-0 --format json", "@RBD@ snap unprotect vm-100-disk-0 --snap golden",
			"@RBD@ unmap /dev/rbd/rbd/vm-100-disk-0", "@RBD@ snap purge vm-100-disk-0", "@RBD@ rm vm-100-disk-0"},
	}, {
		name: "free a clone in a namespace; unmap without --namespace", props: map[string]string{"namespace": "team-a"},
		mapped: []string{"/dev/rbd/rbd/team-a/vm-102-disk-0"},
		answers: []ans{
			{line: "rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring snap ls vm-102-disk-0 --format json", out: "[]"},
			{line: "@RBD@ unmap /dev/rbd/rbd/team-a/vm-102-disk-0"},
			{line: "rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring rm vm-102-disk-0"},
		},
		run: free("base-101-disk-0/vm-102-disk-0"),
		want: []string{"rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring snap ls vm-102-disk-0 --format json",
			"@RBD@ unmap /dev/rbd/rbd/team-a/vm-102-disk-0",
			"rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring rm vm-102-disk-0"},
	}, {
		name: "free what is gone", answers: []ans{{line: "@RBD@ snap ls vm-100-disk-7 --format json", fail: enoent}},
		run: free("vm-100-disk-7"), want: []string{"@RBD@ snap ls vm-100-disk-7 --format json"},
	}, {
		name: "a base with clones stays",
		answers: []ans{
			{line: "@RBD@ snap ls base-101-disk-0 --format json", out: `[{"id":4,"name":"__base__","size":10737418240,"protected":"true","timestamp":"Mon Mar  4 08:00:00 2024"}]`},
			{line: "@RBD@ snap unprotect base-101-disk-0 --snap __base__", fail: "rbd: unprotecting snap failed: (16) Device or resource busy\n"},
		},
		run:  free("base-101-disk-0"),
		want: []string{"@RBD@ snap ls base-101-disk-0 --format json", "@RBD@ snap unprotect base-101-disk-0 --snap __base__"},
		err:  "free base-101-disk-0: cannot unprotect snapshot __base__ (linked clones still use it?)",
	}, {
		name: "free refuses a bad name", run: free("vm-100-disk-0/../x"), err: "illegal volume name",
	}, {
		name: "resize", answers: []ans{{line: "@RBD@ resize --size 10240 vm-100-disk-0"}},
		run:  func(s *Storage) (any, error) { return nil, s.Resize(ctx, "vm-100-disk-0", 10<<30) },
		want: []string{"@RBD@ resize --size 10240 vm-100-disk-0"},
	}, {
		name: "resize refused by rbd", answers: []ans{{line: "@RBD@ resize --size 1024 vm-100-disk-0", fail: "rbd: shrinking an image is only allowed with the --allow-shrink flag\n"}},
		run:  func(s *Storage) (any, error) { return nil, s.Resize(ctx, "vm-100-disk-0", 1<<30) },
		want: []string{"@RBD@ resize --size 1024 vm-100-disk-0"},
		err:  "resize vm-100-disk-0: command",
	}, {
		name: "volume", answers: []ans{{line: "@RBD@ du vm-100-disk-0 --format json", file: "du.json"}},
		run:    func(s *Storage) (any, error) { return s.Volume(ctx, "vm-100-disk-0") },
		want:   []string{"@RBD@ du vm-100-disk-0 --format json"},
		result: storage.Volume{Volname: "vm-100-disk-0", Content: storage.Images, Format: "raw", Size: 34359738368, Used: 2147483648, VMID: 100},
	}})
}

func TestSnapshotPlan(t *testing.T) {
	runPlans(t, []plan{{
		name: "snapshot", answers: []ans{{line: "@RBD@ snap create --snap before-upgrade vm-100-disk-0"}},
		run:  func(s *Storage) (any, error) { return nil, s.Snapshot(ctx, "vm-100-disk-0", "before-upgrade") },
		want: []string{"@RBD@ snap create --snap before-upgrade vm-100-disk-0"},
	}, {
		name: "snapshot name with @", run: func(s *Storage) (any, error) { return nil, s.Snapshot(ctx, "vm-100-disk-0", "a@b") },
		err: "illegal snapshot name",
	}, {
		name: "rollback of a clone", answers: []ans{{line: "@RBD@ snap rollback --snap s1 vm-102-disk-0"}},
		run:  func(s *Storage) (any, error) { return nil, s.Rollback(ctx, "base-101-disk-0/vm-102-disk-0", "s1") },
		want: []string{"@RBD@ snap rollback --snap s1 vm-102-disk-0"},
	}, {
		name: "delete a protected snapshot",
		answers: []ans{
			{line: "@RBD@ info vm-100-disk-0 --format json --snap golden", file: "info_snap_protected.json"},
			{line: "@RBD@ snap unprotect vm-100-disk-0 --snap golden"},
			{line: "@RBD@ snap rm --snap golden vm-100-disk-0"},
		},
		run: func(s *Storage) (any, error) { return nil, s.DeleteSnapshot(ctx, "vm-100-disk-0", "golden") },
		want: []string{"@RBD@ info vm-100-disk-0 --format json --snap golden", "@RBD@ snap unprotect vm-100-disk-0 --snap golden",
			"@RBD@ snap rm --snap golden vm-100-disk-0"},
	}, {
		name: "delete a mapped snapshot", mapped: []string{"/dev/rbd/rbd/vm-100-disk-0@s1"},
		answers: []ans{
			{line: "@RBD@ unmap /dev/rbd/rbd/vm-100-disk-0@s1"},
			{line: "@RBD@ info vm-100-disk-0 --format json --snap s1", file: "info_snap_unprotected.json"},
			{line: "@RBD@ snap rm --snap s1 vm-100-disk-0"},
		},
		run: func(s *Storage) (any, error) { return nil, s.DeleteSnapshot(ctx, "vm-100-disk-0", "s1") },
		want: []string{"@RBD@ unmap /dev/rbd/rbd/vm-100-disk-0@s1", "@RBD@ info vm-100-disk-0 --format json --snap s1",
			"@RBD@ snap rm --snap s1 vm-100-disk-0"},
	}})
}

func TestBaseClonePlan(t *testing.T) {
	ls := ans{line: "@RBD@ ls -l --format json", file: "ls.json"}
	base := []string{
		"@RBD@ info vm-100-disk-0 --format json",
		"@RBD@ info base-100-disk-0 --format json",
		"@RBD@ rename rbd/vm-100-disk-0 rbd/base-100-disk-0",
		"@RBD@ snap create --snap __base__ base-100-disk-0",
		"@RBD@ info base-100-disk-0 --format json --snap __base__",
		"@RBD@ snap protect base-100-disk-0 --snap __base__",
	}
	baseAnswers := func(protect ans) []ans {
		return []ans{
			{line: base[0], file: "info.json"}, {line: base[1], fail: enoent}, {line: base[2]}, {line: base[3]},
			{line: base[4], file: "info_snap_unprotected.json"}, protect,
			{line: "@RBD@ snap rm --snap __base__ base-100-disk-0"}, {line: "@RBD@ rename rbd/base-100-disk-0 rbd/vm-100-disk-0"},
		}
	}
	clone := func(v string, vmid int, snap string) func(s *Storage) (any, error) {
		return func(s *Storage) (any, error) { return s.Clone(ctx, v, vmid, snap) }
	}
	runPlans(t, []plan{{
		name: "create base", answers: baseAnswers(ans{line: base[5]}),
		run:    func(s *Storage) (any, error) { return s.CreateBase(ctx, "vm-100-disk-0") },
		want:   base,
		result: "base-100-disk-0",
	}, {
		name: "create base: protect fails, everything undone", answers: baseAnswers(ans{line: base[5], fail: "rbd: protecting snap failed: (30) Read-only file system\n"}),
		run:  func(s *Storage) (any, error) { return s.CreateBase(ctx, "vm-100-disk-0") },
		want: append(slices.Clone(base), "@RBD@ snap rm --snap __base__ base-100-disk-0", "@RBD@ rename rbd/base-100-disk-0 rbd/vm-100-disk-0"),
		err:  "create base from vm-100-disk-0",
	}, {
		name:    "create base: the base name is taken",
		answers: []ans{{line: base[0], file: "info.json"}, {line: base[1], file: "info_snap_protected.json"}},
		run:     func(s *Storage) (any, error) { return s.CreateBase(ctx, "vm-100-disk-0") },
		want:    base[:2],
		err:     "image base-100-disk-0 already exists",
	}, {
		name: "create base from a linked clone",
		answers: []ans{
			{line: "@RBD@ info vm-102-disk-0 --format json", file: "info_clone.json"},
			{line: "@RBD@ info base-102-disk-0 --format json", fail: enoent},
			{line: "@RBD@ rename rbd/vm-102-disk-0 rbd/base-102-disk-0"},
			{line: "@RBD@ snap create --snap __base__ base-102-disk-0"},
			{line: "@RBD@ info base-102-disk-0 --format json --snap __base__", file: "info_snap_protected.json"},
		},
		run: func(s *Storage) (any, error) { return s.CreateBase(ctx, "base-101-disk-0/vm-102-disk-0") },
		want: []string{"@RBD@ info vm-102-disk-0 --format json", "@RBD@ info base-102-disk-0 --format json",
			"@RBD@ rename rbd/vm-102-disk-0 rbd/base-102-disk-0", "@RBD@ snap create --snap __base__ base-102-disk-0",
			"@RBD@ info base-102-disk-0 --format json --snap __base__"},
		result: "base-102-disk-0",
	}, {
		name:    "create base: the name lies about the parent",
		answers: []ans{{line: "@RBD@ info vm-102-disk-0 --format json", file: "info_clone.json"}},
		run:     func(s *Storage) (any, error) { return s.CreateBase(ctx, "base-105-disk-0/vm-102-disk-0") },
		want:    []string{"@RBD@ info vm-102-disk-0 --format json"},
		err:     "not a clone of base-105-disk-0@__base__",
	}, {
		name:    "create base: format 1",
		answers: []ans{{line: base[0], out: `{"name":"vm-100-disk-0","size":1048576,"format":1}`}},
		run:     func(s *Storage) (any, error) { return s.CreateBase(ctx, "vm-100-disk-0") },
		want:    base[:1],
		err:     "only format 2 images can be cloned",
	}, {
		name: "clone a base", answers: []ans{ls, {line: "@RBD@ clone rbd/base-101-disk-0 --snap __base__ rbd/vm-200-disk-0"}},
		run:    clone("base-101-disk-0", 200, ""),
		want:   []string{"@RBD@ ls -l --format json", "@RBD@ clone rbd/base-101-disk-0 --snap __base__ rbd/vm-200-disk-0"},
		result: "base-101-disk-0/vm-200-disk-0",
	}, {
		name: "clone a base in a namespace, data pool", props: map[string]string{"namespace": "team-a", "data-pool": "rbd-ec-data"},
		answers: []ans{
			{line: "rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring ls -l --format json", file: "ls.json"},
			{line: "rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring clone rbd/team-a/base-101-disk-0 --snap __base__ --data-pool rbd-ec-data rbd/team-a/vm-102-disk-1"},
		},
		run: clone("base-101-disk-0", 102, ""),
		want: []string{"rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring ls -l --format json",
			"rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring clone rbd/team-a/base-101-disk-0 --snap __base__ --data-pool rbd-ec-data rbd/team-a/vm-102-disk-1"},
		result: "base-101-disk-0/vm-102-disk-1",
	}, {
		name: "clone from a snapshot: protect, clone fails, unprotect again",
		answers: []ans{ls,
			{line: "@RBD@ info vm-100-disk-0 --format json --snap before-upgrade", file: "info_snap_unprotected.json"},
			{line: "@RBD@ snap protect vm-100-disk-0 --snap before-upgrade"},
			{line: "@RBD@ clone rbd/vm-100-disk-0 --snap before-upgrade rbd/vm-200-disk-0", fail: "rbd: clone error: (28) No space left on device\n"},
			{line: "@RBD@ snap unprotect vm-100-disk-0 --snap before-upgrade"},
		},
		run: clone("vm-100-disk-0", 200, "before-upgrade"),
		want: []string{"@RBD@ ls -l --format json", "@RBD@ info vm-100-disk-0 --format json --snap before-upgrade",
			"@RBD@ snap protect vm-100-disk-0 --snap before-upgrade",
			"@RBD@ clone rbd/vm-100-disk-0 --snap before-upgrade rbd/vm-200-disk-0",
			"@RBD@ snap unprotect vm-100-disk-0 --snap before-upgrade"},
		err: "clone vm-100-disk-0: command",
	}, {
		name: "clone from a protected snapshot stands alone",
		answers: []ans{ls,
			{line: "@RBD@ info vm-100-disk-0 --format json --snap golden", file: "info_snap_protected.json"},
			{line: "@RBD@ clone rbd/vm-100-disk-0 --snap golden rbd/vm-200-disk-0"},
		},
		run: clone("vm-100-disk-0", 200, "golden"),
		want: []string{"@RBD@ ls -l --format json", "@RBD@ info vm-100-disk-0 --format json --snap golden",
			"@RBD@ clone rbd/vm-100-disk-0 --snap golden rbd/vm-200-disk-0"},
		result: "vm-200-disk-0",
	}, {
		name: "clone of an ordinary image needs a snapshot", run: clone("vm-100-disk-0", 200, ""),
		err: "linked clones are made from template bases",
	}})
}

func TestRenamePlan(t *testing.T) {
	ls := ans{line: "@RBD@ ls -l --format json", file: "ls.json"}
	rename := func(v string, vmid int, name string) func(s *Storage) (any, error) {
		return func(s *Storage) (any, error) { return s.Rename(ctx, v, vmid, name) }
	}
	runPlans(t, []plan{{
		name: "to another guest, next free name", mapped: []string{"/dev/rbd/rbd/vm-100-disk-0"},
		answers: []ans{ls, {line: "@RBD@ info vm-300-disk-0 --format json", fail: enoent},
			{line: "@RBD@ unmap /dev/rbd/rbd/vm-100-disk-0"}, {line: "@RBD@ rename rbd/vm-100-disk-0 rbd/vm-300-disk-0"}},
		run: rename("vm-100-disk-0", 300, ""),
		want: []string{"@RBD@ ls -l --format json", "@RBD@ info vm-300-disk-0 --format json",
			"@RBD@ unmap /dev/rbd/rbd/vm-100-disk-0", "@RBD@ rename rbd/vm-100-disk-0 rbd/vm-300-disk-0"},
		result: "vm-300-disk-0",
	}, {
		name:    "a linked clone keeps its base",
		answers: []ans{{line: "@RBD@ info vm-300-disk-4 --format json", fail: enoent}, {line: "@RBD@ rename rbd/vm-102-disk-0 rbd/vm-300-disk-4"}},
		run:     rename("base-101-disk-0/vm-102-disk-0", 300, "vm-300-disk-4"),
		want:    []string{"@RBD@ info vm-300-disk-4 --format json", "@RBD@ rename rbd/vm-102-disk-0 rbd/vm-300-disk-4"},
		result:  "base-101-disk-0/vm-300-disk-4",
	}, {
		name:    "the target exists",
		answers: []ans{{line: "@RBD@ info vm-300-disk-0 --format json", file: "info.json"}},
		run:     rename("vm-100-disk-0", 300, "vm-300-disk-0"),
		want:    []string{"@RBD@ info vm-300-disk-0 --format json"},
		err:     "target volume vm-300-disk-0 already exists",
	}, {
		name:    "the cluster does not answer",
		answers: []ans{{line: "@RBD@ info vm-300-disk-0 --format json", fail: "monclient(hunting): authenticate timed out after 300\n"}},
		run:     rename("vm-100-disk-0", 300, "vm-300-disk-0"),
		want:    []string{"@RBD@ info vm-300-disk-0 --format json"},
		err:     "authenticate timed out",
	}, {
		name: "a base keeps its name", run: rename("base-101-disk-0", 300, ""), err: "template base volumes cannot be renamed",
	}, {
		name: "another guest's name", run: rename("vm-100-disk-0", 300, "vm-301-disk-0"), err: "belongs to guest 301, not 300",
	}})
}

func TestStatusPlan(t *testing.T) {
	const df = "ceph -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring df --format json"
	status := func(s *Storage) (any, error) { return s.Status(ctx) }
	runPlans(t, []plan{{
		name: "pool", answers: []ans{{line: df, file: "df.json"}}, run: status, want: []string{df},
		result: storage.Status{Active: true, Total: 1024374182400, Used: 107374182400, Avail: 917000000000},
	}, {
		name: "data pool counts", props: map[string]string{"data-pool": "rbd-ec-data"}, answers: []ans{{line: df, file: "df.json"}}, run: status, want: []string{df},
		result: storage.Status{Active: true, Total: 1887687091200, Used: 53687091200, Avail: 1834000000000},
	}, {
		name: "no such pool: inactive", props: map[string]string{"pool": "gone"}, answers: []ans{{line: df, file: "df.json"}}, run: status, want: []string{df},
		result: storage.Status{},
	}, {
		name: "cluster unreachable", answers: []ans{{line: df, fail: "[errno 110] RADOS timed out (error connecting to the cluster)\n"}},
		run: status, want: []string{df}, err: "status: command 'ceph",
	}})
}

func TestAttachPlan(t *testing.T) {
	attach := func(v, snap string) func(s *Storage) (any, error) {
		return func(s *Storage) (any, error) { return s.Attach(ctx, v, snap) }
	}
	krbd := map[string]string{"krbd": "1"}
	runPlans(t, []plan{{
		name: "krbd maps the image", props: krbd, answers: []ans{{line: "@RBD@ map vm-100-disk-0", out: "/dev/rbd0\n"}},
		run: attach("vm-100-disk-0", ""), want: []string{"@RBD@ map vm-100-disk-0"},
		result: storage.Attachment{Path: "/dev/rbd/rbd/vm-100-disk-0", Format: "raw",
			Blockdev: map[string]any{"driver": "host_device", "filename": "/dev/rbd/rbd/vm-100-disk-0"},
			Mount:    &storage.Mount{Source: "/dev/rbd/rbd/vm-100-disk-0"}},
	}, {
		name: "krbd, already mapped", props: krbd, mapped: []string{"/dev/rbd/rbd/base-101-disk-0"},
		run: attach("base-101-disk-0", ""),
		result: storage.Attachment{Path: "/dev/rbd/rbd/base-101-disk-0", Format: "raw",
			Blockdev: map[string]any{"driver": "host_device", "filename": "/dev/rbd/rbd/base-101-disk-0"},
			Mount:    &storage.Mount{Source: "/dev/rbd/rbd/base-101-disk-0"}},
	}, {
		name: "krbd snapshot in a namespace, read-only", props: map[string]string{"krbd": "yes", "namespace": "team-a"},
		answers: []ans{{line: "rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring map vm-102-disk-0@s1"}},
		run:     attach("base-101-disk-0/vm-102-disk-0", "s1"),
		want:    []string{"rbd -p rbd --namespace team-a -m 10.1.1.20,10.1.1.21:3300 --auth_supported cephx -n client.admin --keyring @STATE@/ceph1.keyring map vm-102-disk-0@s1"},
		result: storage.Attachment{Path: "/dev/rbd/rbd/team-a/vm-102-disk-0@s1", Format: "raw",
			Blockdev: map[string]any{"driver": "host_device", "filename": "/dev/rbd/rbd/team-a/vm-102-disk-0@s1", "read-only": true},
			Mount:    &storage.Mount{Source: "/dev/rbd/rbd/team-a/vm-102-disk-0@s1", Options: []string{"ro"}}},
	}, {
		name: "krbd map fails", props: krbd, answers: []ans{{line: "@RBD@ map vm-100-disk-0", fail: "rbd: sysfs write failed\nrbd: map failed: (110) Connection timed out\n"}},
		run: attach("vm-100-disk-0", ""), want: []string{"@RBD@ map vm-100-disk-0"}, err: "map vm-100-disk-0: command",
	}, {
		name: "QEMU's rbd driver for an external cluster", props: map[string]string{"monhost": "10.1.1.20 [fd00::22]:3300", "namespace": "team-a", "username": "pve"},
		run: attach("base-101-disk-0/vm-102-disk-0", "s1"),
		check: func(t *testing.T, got any, state string) {
			a := got.(storage.Attachment)
			want := storage.Attachment{Path: "rbd:rbd/team-a/vm-102-disk-0@s1", Format: "raw", Blockdev: map[string]any{
				"driver": "rbd", "pool": "rbd", "namespace": "team-a", "image": "vm-102-disk-0", "snapshot": "s1",
				"server": []any{map[string]any{"host": "10.1.1.20", "port": "6789"}, map[string]any{"host": "fd00::22", "port": "3300"}},
				"user":   "pve", "conf": filepath.Join(state, "ceph1.conf"), "auth-client-required": []any{"cephx"},
			}}
			if !reflect.DeepEqual(a, want) {
				t.Fatalf("got %#v\nwant %#v", a, want)
			}
			conf, err := os.ReadFile(filepath.Join(state, "ceph1.conf"))
			if err != nil || string(conf) != "[global]\n\tkeyring = "+filepath.Join(state, "ceph1.keyring")+"\n" {
				t.Errorf("conf %q, %v", conf, err)
			}
		},
	}, {
		name: "QEMU's rbd driver, local cluster", secret: new(string), props: map[string]string{"monhost": ""},
		run:    attach("vm-100-disk-0", ""),
		result: storage.Attachment{Path: "rbd:rbd/vm-100-disk-0", Format: "raw", Blockdev: map[string]any{"driver": "rbd", "pool": "rbd", "image": "vm-100-disk-0"}},
	}, {
		name: "QEMU's rbd driver without cephx", secret: new(string), props: map[string]string{"monhost": "ceph1.example"},
		run: attach("vm-100-disk-0", ""),
		result: storage.Attachment{Path: "rbd:rbd/vm-100-disk-0", Format: "raw", Blockdev: map[string]any{"driver": "rbd", "pool": "rbd", "image": "vm-100-disk-0",
			"server": []any{map[string]any{"host": "ceph1.example", "port": "6789"}}, "auth-client-required": []any{"none"}}},
	}, {
		name: "bad snapshot name", run: attach("vm-100-disk-0", "../x"), err: "illegal snapshot name",
	}, {
		name: "subvolume name", run: attach("subvol-100-disk-0", ""), err: "illegal",
	}})
}

// TestKeyringFile checks that the secret reaches the tools only as a
// file root alone can read, and that a bare key becomes a keyring.
func TestKeyringFile(t *testing.T) {
	for _, tc := range []struct{ name, secret, user, want string }{
		{"keyring", keyring, "", keyring},
		{"bare key", key + "\n", "pve", "[client.pve]\n\tkey = " + key + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			props := map[string]string{}
			if tc.user != "" {
				props["username"] = tc.user
			}
			st, err := Plugin{}.Open(storage.Config{ID: "ceph1", Props: props, Secret: tc.secret}, storage.Env{Runner: &runner.Recorder{}, StateDir: state})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(state, "ceph1.keyring")
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("Open wrote the keyring: %v", err)
			}
			for i := 0; i < 2; i++ {
				if err := st.Activate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("keyring: %v %v", fi, err)
			}
			if data, _ := os.ReadFile(path); string(data) != tc.want {
				t.Errorf("keyring %q, want %q", data, tc.want)
			}
			// A keyring someone opened up is closed again.
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := st.Activate(ctx); err != nil {
				t.Fatal(err)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v after rewrite", fi.Mode())
			}
		})
	}
}
