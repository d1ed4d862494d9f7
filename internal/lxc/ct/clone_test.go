package ct

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/cfs"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/lxc/ctconf"
)

func TestCloneValues(t *testing.T) {
	src := map[string]string{
		"hostname":  "web",
		"memory":    "512",
		"net0":      "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp",
		"rootfs":    "local:100/vm-100-disk-0.raw,size=4G",
		"mp0":       "local:100/vm-100-disk-1.raw,mp=/data,size=1G",
		"mp1":       "/srv/shared,mp=/shared",
		"unused0":   "local:100/vm-100-disk-2.raw",
		"template":  "1",
		"lock":      "backup",
		"parent":    "s1",
		"snaptime":  "1700000000",
		"snapstate": "prepare",
	}
	sec := guestconf.NewSection()
	for k, v := range src {
		if err := sec.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ hostname, want string }{{"", "web"}, {"db", "db"}} {
		out := cloneValues(sec, tc.hostname, "BC:24:11", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
		if out["hostname"] != tc.want || out["memory"] != "512" || out["mp1"] != src["mp1"] {
			t.Errorf("clone values: %v", out)
		}
		for _, k := range []string{"rootfs", "mp0", "unused0", "template", "lock", "parent", "snaptime", "snapstate"} {
			if v, ok := out[k]; ok {
				t.Errorf("%s taken over: %q", k, v)
			}
		}
		n, err := ctconf.ParseNet("net0", out["net0"])
		if err != nil || n.HWAddr == "BC:24:11:00:00:01" || !strings.HasPrefix(n.HWAddr, "BC:24:11:") || n.Bridge != "vmbr0" || n.IP != "dhcp" {
			t.Errorf("net0: %s %v", out["net0"], err)
		}
	}
}

func TestCloneRefusals(t *testing.T) {
	e := newVolEnv(t, false)
	ctx := t.Context()
	root := e.volume(120, "local", 0)
	e.conf(120, "hostname: a\nrootfs: "+root+"\n")
	e.conf(121, "hostname: b\nrootfs: "+e.volume(121, "local", 0)+"\n")
	no := false
	for _, tc := range []struct {
		name string
		in   api.CTCloneParams
		want string
	}{
		{"same id", api.CTCloneParams{VMID: 120, NewID: 120}, "needs an id of its own"},
		{"id taken", api.CTCloneParams{VMID: 120, NewID: 121}, "already exists"},
		{"other node", api.CTCloneParams{VMID: 120, NewID: 130, Target: "n2"}, "clone on n1, then migrate"},
		{"linked of a container", api.CTCloneParams{VMID: 120, NewID: 130, Full: &no}, "not a template"},
		{"storage of a linked clone", api.CTCloneParams{VMID: 120, NewID: 130, Full: &no, Storage: "local"}, "choose a storage only with full=1"},
		{"missing snapshot", api.CTCloneParams{VMID: 120, NewID: 130, SnapName: "nope"}, "snapshot 'nope' does not exist"},
		{"unknown storage", api.CTCloneParams{VMID: 120, NewID: 130, Storage: "nope"}, "storage 'nope' does not exist"},
	} {
		_, err := e.s.cloneTask(ctx, nil, &tc.in)
		if err == nil || !strings.Contains(errText(err), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := e.s.repo.Load(130); err == nil {
		t.Fatal("a refused clone made a configuration")
	}
}

// errText is an error's message with its parameter errors.
func errText(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		out := ae.Message
		for k, v := range ae.Errors {
			out += " " + k + ": " + v
		}
		return out
	}
	return err.Error()
}

func TestFullCloneOfAContainer(t *testing.T) {
	e := newVolEnv(t, false)
	ctx := t.Context()
	root := e.volume(122, "local", 0)
	e.conf(122, "hostname: a\ndescription: the source\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01\nrootfs: "+root+"\n")
	e.writeFile(root, "state", "from 122")
	if _, err := e.store.Apply(ctx, cfs.Write(firewallPath(122), []byte("[OPTIONS]\nenable: 1\n"))); err != nil {
		t.Fatal(err)
	}
	e.mustTask(e.s.cloneTask(ctx, nil, &api.CTCloneParams{VMID: 122, NewID: 123, Hostname: "b", Pool: "pool1"}))
	c := e.load(123)
	nroot := mountValue(t, c, "rootfs")
	if !strings.HasPrefix(nroot, "local:123/subvol-123-disk-") || c.Main().Value("hostname") != "b" ||
		c.Main().Value("description") != "the source" || c.Main().Value("lock") != "" ||
		strings.Contains(c.Main().Value("net0"), "BC:24:11:00:00:01") {
		t.Fatalf("clone configuration:\n%s", c.File.Bytes())
	}
	if got := e.readFile(nroot, "", "state"); got != "from 122" {
		t.Fatalf("the clone's rootfs holds %q", got)
	}
	if e.pools.added[123] != "pool1" {
		t.Fatalf("pools: %v", e.pools.added)
	}
	if fw, err := e.store.Get(firewallPath(123)); err != nil || !strings.Contains(string(fw.Data), "enable: 1") {
		t.Fatalf("firewall of the clone: %v", err)
	}
	if src := e.load(122); src.Main().Value("lock") != "" {
		t.Fatalf("the source stays locked:\n%s", src.File.Bytes())
	}
}

func TestFailedCloneLeavesNothingBehind(t *testing.T) {
	e := newVolEnv(t, false)
	ctx := t.Context()
	root := e.volume(124, "local", 0)
	e.conf(124, "hostname: a\nrootfs: "+root+"\n")
	e.pools.err = errors.New("no such pool")
	_, err := e.runTask(e.s.cloneTask(ctx, nil, &api.CTCloneParams{VMID: 124, NewID: 125, Pool: "nope"}))
	if err == nil || !strings.Contains(err.Error(), "no such pool") {
		t.Fatalf("clone into a failing pool: %v", err)
	}
	if _, err := e.s.repo.Load(125); err == nil {
		t.Fatal("the failed clone's configuration was kept")
	}
	if left, _ := os.ReadDir(filepath.Join(e.local, "images", "125")); len(left) > 0 {
		t.Fatalf("the failed clone left volumes: %v", left)
	}
	if src := e.load(124); src.Main().Value("lock") != "" {
		t.Fatalf("the source stays locked after the failed clone:\n%s", src.File.Bytes())
	}
}

// A template on btrfs: its subvolume and its image become base volumes;
// a linked clone shares them, a full clone onto the dir storage copies
// them, the sized subvolume becoming an ext4 image there.
func TestTemplateLinkedAndFullClonesOnBtrfs(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(130, "bt", 128<<20)
	data := e.rawVolume(130, "bt", 32<<20)
	e.conf(130, "hostname: tmpl\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01\nrootfs: "+root+",size=128M\n"+
		"mp0: "+data+",mp=/data,size=32M\n")
	e.writeFile(root, "state", "root of 130")
	e.writeFile(data, "state", "data of 130")

	if _, err := e.s.templateCT(ctx, nil, &api.CTParam{VMID: 130}); err != nil {
		t.Fatal(err)
	}
	c := e.load(130)
	broot, bdata := mountValue(t, c, "rootfs"), mountValue(t, c, "mp0")
	if c.Main().Value("template") != "1" || !strings.Contains(broot, "/basevol-130-disk-") || !strings.Contains(bdata, "/base-130-disk-") ||
		!strings.Contains(c.Main().Value("mp0"), "mp=/data") {
		t.Fatalf("template configuration:\n%s", c.File.Bytes())
	}
	if _, err := e.s.templateCT(ctx, nil, &api.CTParam{VMID: 130}); err == nil || !strings.Contains(err.Error(), "already a template") {
		t.Fatalf("a second conversion: %v", err)
	}
	if f, err := e.s.feature(ctx, nil, &api.FeatureParams{VMID: 130, Feature: "clone"}); err != nil || !f.HasFeature {
		t.Fatalf("feature clone of the template: %+v %v", f, err)
	}

	e.mustTask(e.s.cloneTask(ctx, nil, &api.CTCloneParams{VMID: 130, NewID: 131, Hostname: "linked"}))
	c = e.load(131)
	lroot, ldata := mountValue(t, c, "rootfs"), mountValue(t, c, "mp0")
	if !strings.HasPrefix(lroot, "bt:131/") || !strings.HasPrefix(ldata, "bt:131/") || c.Main().Value("template") != "" ||
		c.Main().Value("hostname") != "linked" || strings.Contains(c.Main().Value("net0"), "00:00:01") {
		t.Fatalf("linked clone configuration:\n%s", c.File.Bytes())
	}
	if e.readFile(lroot, "", "state") != "root of 130" || e.readFile(ldata, "", "state") != "data of 130" {
		t.Fatal("the linked clone does not see the template's files")
	}
	e.writeFile(lroot, "state", "changed in 131")
	if e.readFile(broot, "", "state") != "root of 130" {
		t.Fatal("a write to the linked clone reached the template")
	}

	yes := true
	e.mustTask(e.s.cloneTask(ctx, nil, &api.CTCloneParams{VMID: 130, NewID: 132, Full: &yes, Storage: "local"}))
	c = e.load(132)
	froot, fdata := mountValue(t, c, "rootfs"), mountValue(t, c, "mp0")
	if !strings.HasPrefix(froot, "local:132/vm-132-disk-") || !strings.HasSuffix(froot, ".raw") ||
		!strings.HasPrefix(fdata, "local:132/vm-132-disk-") || !strings.Contains(c.Main().Value("rootfs"), "size=128M") {
		t.Fatalf("full clone configuration:\n%s", c.File.Bytes())
	}
	if e.readFile(froot, "", "state") != "root of 130" || e.readFile(fdata, "", "state") != "data of 130" {
		t.Fatal("the full clone does not hold the template's files")
	}
	if src := e.load(130); src.Main().Value("lock") != "" {
		t.Fatalf("the template stays locked:\n%s", src.File.Bytes())
	}
}

func TestTemplateRefusals(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	e.conf(140, "rootfs: "+e.volume(140, "bt", 64<<20)+",size=64M\nmp0: /srv,mp=/srv\n")
	if _, err := e.s.templateCT(ctx, nil, &api.CTParam{VMID: 140}); err == nil || !strings.Contains(err.Error(), "mp0 mounts the host path /srv") {
		t.Fatalf("template with a bind mount: %v", err)
	}
	e.conf(141, "rootfs: "+e.volume(141, "bt", 64<<20)+",size=64M\n")
	e.mustTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 141, SnapName: "s1"}))
	if _, err := e.s.templateCT(ctx, nil, &api.CTParam{VMID: 141}); err == nil || !strings.Contains(err.Error(), "it has snapshots") {
		t.Fatalf("template with a snapshot: %v", err)
	}
	if c := e.load(141); c.Main().Value("template") != "" {
		t.Fatalf("a refused conversion marked the template:\n%s", c.File.Bytes())
	}
}

// A full clone of a snapshot holds the snapshot's files, not the
// current ones, also when the copy changes the volume's format.
func TestFullCloneOfASnapshot(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(142, "bt", 64<<20)
	e.conf(142, "hostname: a\nmemory: 256\nrootfs: "+root+",size=64M\n")
	e.writeFile(root, "state", "at s1")
	e.mustTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 142, SnapName: "s1", Description: "the snapshot"}))
	e.writeFile(root, "state", "later")
	if _, err := e.s.updateConfig(ctx, nil, &api.CTConfigUpdateParams{VMID: 142, Config: map[string]any{"memory": 1024}}); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"bt", "local"} {
		newid := 143
		if target == "local" {
			newid = 144
		}
		e.mustTask(e.s.cloneTask(ctx, nil, &api.CTCloneParams{VMID: 142, NewID: newid, SnapName: "s1", Storage: target}))
		c := e.load(newid)
		nroot := mountValue(t, c, "rootfs")
		if got := e.readFile(nroot, "", "state"); got != "at s1" {
			t.Fatalf("clone of the snapshot onto %s holds %q", target, got)
		}
		if c.Main().Value("memory") != "256" || c.Main().Value("description") != "" || c.Main().Value("parent") != "" {
			t.Fatalf("configuration of the clone of a snapshot onto %s:\n%s", target, c.File.Bytes())
		}
	}
}
