package ct

import (
	"strings"
	"testing"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/storage"
)

func TestVolumeRoutesBindEveryVolumeEndpoint(t *testing.T) {
	s := &Service{}
	got := map[string]bool{}
	for _, r := range s.volumeRoutes() {
		if r.Invoke == nil && r.RunTask == nil {
			t.Errorf("%s %s has no handler", r.Method, r.Path)
		}
		got[r.Method+" "+r.Path] = true
	}
	for _, e := range []*api.Endpoint{api.CTSnapshotList.E, api.CTSnapshotCreate.E, api.CTSnapshotIndex.E, api.CTSnapshotDelete.E,
		api.CTSnapshotConfigGet.E, api.CTSnapshotConfigUpdate.E, api.CTSnapshotRollback.E, api.CTFeature.E,
		api.CTClone.E, api.CTTemplate.E, api.CTResize.E, api.CTMoveVolume.E} {
		if !got[e.Method+" "+e.Path] {
			t.Errorf("%s %s is not bound", e.Method, e.Path)
		}
	}
}

func TestSnapshotRefusedOnAStorageWithoutSnapshots(t *testing.T) {
	e := newVolEnv(t, false)
	root := e.volume(100, "local", 64<<20)
	e.conf(100, "hostname: a\nmemory: 256\nrootfs: "+root+",size=64M\nmp0: /srv,mp=/srv\n")
	before := e.load(100).Digest
	_, err := e.runTask(e.s.snapshotCreateTask(t.Context(), nil, &api.CTSnapshotCreateParams{VMID: 100, SnapName: "first"}))
	want := "snapshot feature is not available: rootfs (" + root + ") is a raw volume on storage 'local' of type dir, which keeps snapshots only of qcow2 volumes"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("snapshot on dir: %v\nwant %q", err, want)
	}
	if c := e.load(100); c.Digest != before {
		t.Fatalf("a refused snapshot changed the configuration:\n%s", c.File.Bytes())
	}
	f, err := e.s.feature(t.Context(), nil, &api.FeatureParams{VMID: 100, Feature: "snapshot"})
	if err != nil || f.HasFeature {
		t.Fatalf("feature snapshot on dir: %+v %v", f, err)
	}
	f, err = e.s.feature(t.Context(), nil, &api.FeatureParams{VMID: 100, Feature: "copy"})
	if err != nil || !f.HasFeature || len(f.Nodes) != 1 || f.Nodes[0] != "n1" {
		t.Fatalf("feature copy on dir: %+v %v", f, err)
	}
}

func TestSnapshotNamesTheAPIRefuses(t *testing.T) {
	for _, name := range []string{"current", "Pending", "a", "1abc", "has space", strings.Repeat("x", 41)} {
		if err := checkSnapshotName(name); err == nil {
			t.Errorf("%q was accepted", name)
		}
	}
	for _, name := range []string{"ab", "before-upgrade", "snap_1", strings.Repeat("x", 40)} {
		if err := checkSnapshotName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// A container with a subvolume and an image on btrfs and a bind mount:
// snapshots, a rollback and deletes, checked on the volumes' files and
// in the configuration.
func TestSnapshotRollbackAndDeleteOnBtrfs(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(101, "bt", 256<<20)
	data := e.rawVolume(101, "bt", 64<<20)
	e.conf(101, "hostname: a\nmemory: 256\nrootfs: "+root+",size=256M\nmp0: "+data+",mp=/data,size=64M\nmp1: /srv,mp=/srv\n"+
		"lxc.cgroup2.devices.allow: c 10:200 rwm\n")
	e.writeFile(root, "state", "one")
	e.writeFile(data, "state", "one")

	log := e.mustTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 101, SnapName: "first"}))
	if !strings.Contains(log.String(), "rootfs: snapshot of "+root+" taken") || !strings.Contains(log.String(), "mp0: snapshot of "+data+" taken") {
		t.Fatalf("log:\n%s", log)
	}
	c := e.load(101)
	snap := c.File.Snapshot("first")
	if snap == nil || snap.Value("snaptime") == "" || snap.Value("snapstate") != "" || snap.Value("memory") != "256" ||
		c.Main().Value("parent") != "first" || c.Main().Value("lock") != "" || len(snap.Raw()) != 1 {
		t.Fatalf("configuration after the first snapshot:\n%s", c.File.Bytes())
	}
	if len(e.run.ran("lxc-freeze")) > 0 {
		t.Fatalf("a stopped container was frozen: %v", e.run.lines)
	}

	e.writeFile(root, "state", "two")
	e.writeFile(data, "state", "two")
	if _, err := e.s.updateConfig(ctx, nil, &api.CTConfigUpdateParams{VMID: 101, Config: map[string]any{"memory": 512}}); err != nil {
		t.Fatal(err)
	}
	e.mustTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 101, SnapName: "second", Description: "after the change"}))
	c = e.load(101)
	if s := c.File.Snapshot("second"); s.Value("parent") != "first" || s.Value("description") != "after the change" || c.Main().Value("parent") != "second" {
		t.Fatalf("configuration after the second snapshot:\n%s", c.File.Bytes())
	}
	if _, err := e.runTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 101, SnapName: "second"})); err == nil ||
		!strings.Contains(err.Error(), "already used") {
		t.Fatalf("a second snapshot of the same name: %v", err)
	}
	list, err := e.s.snapshotList(ctx, nil, &api.CTParam{VMID: 101})
	if err != nil || len(list) != 3 || list[0].Name != "first" || list[1].Name != "second" || list[2].Name != "current" ||
		list[2].Parent != "second" || *list[2].Running != 0 {
		t.Fatalf("snapshot list: %+v %v", list, err)
	}
	if e.readFile(root, "first", "state") != "one" || e.readFile(data, "second", "state") != "two" {
		t.Fatal("the volume snapshots do not hold what was written before them")
	}

	e.writeFile(root, "state", "three")
	log = e.mustTask(e.s.snapshotRollbackTask(ctx, nil, &api.SnapshotRollbackParams{VMID: 101, SnapName: "first"}))
	if got := e.readFile(root, "", "state"); got != "one" {
		t.Fatalf("rootfs after the rollback holds %q", got)
	}
	if got := e.readFile(data, "", "state"); got != "one" {
		t.Fatalf("mp0 after the rollback holds %q", got)
	}
	c = e.load(101)
	if c.Main().Value("memory") != "256" || c.Main().Value("parent") != "first" || c.Main().Value("lock") != "" ||
		c.Main().Value("mp1") != "/srv,mp=/srv" || len(c.Main().Raw()) != 1 {
		t.Fatalf("configuration after the rollback:\n%s\nlog:\n%s", c.File.Bytes(), log)
	}

	e.mustTask(e.s.snapshotDeleteTask(ctx, nil, &api.SnapshotDeleteParams{VMID: 101, SnapName: "first"}))
	c = e.load(101)
	if c.File.Snapshot("first") != nil || c.File.Snapshot("second").Value("parent") != "" || c.Main().Value("parent") != "" {
		t.Fatalf("configuration after deleting the first snapshot:\n%s", c.File.Bytes())
	}
	v, _ := e.s.openVolume(ctx, "rootfs", root)
	if _, err := v.st.Attach(ctx, v.Name, "first"); err == nil {
		t.Fatal("the storage snapshot of rootfs survived the delete")
	}
	f, err := e.s.feature(ctx, nil, &api.FeatureParams{VMID: 101, Feature: "snapshot"})
	if err != nil || !f.HasFeature {
		t.Fatalf("feature snapshot on btrfs: %+v %v", f, err)
	}
}

// A snapshot that fails on its second volume leaves neither storage
// snapshots nor a section nor a lock.
func TestSnapshotFailureUndoesWhatItMade(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(102, "bt", 128<<20)
	data := e.rawVolume(102, "bt", 32<<20)
	e.conf(102, "hostname: a\nrootfs: "+root+",size=128M\nmp0: "+data+",mp=/data,size=32M\n")
	v, _ := e.s.openVolume(ctx, "mp0", data)
	if err := v.st.(storage.Snapshotter).Snapshot(ctx, v.Name, "clash"); err != nil {
		t.Fatal(err)
	}
	_, err := e.runTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 102, SnapName: "clash"}))
	if err == nil || !strings.HasPrefix(err.Error(), "mp0: ") {
		t.Fatalf("snapshot over an existing storage snapshot: %v", err)
	}
	c := e.load(102)
	if c.File.Snapshot("clash") != nil || c.Main().Value("lock") != "" || c.Main().Value("parent") != "" {
		t.Fatalf("configuration after the failed snapshot:\n%s", c.File.Bytes())
	}
	r, _ := e.s.openVolume(ctx, "rootfs", root)
	if _, err := r.st.Attach(ctx, r.Name, "clash"); err == nil {
		t.Fatal("the rootfs snapshot of the failed attempt was kept")
	}
}

func TestSnapshotDescriptionUpdate(t *testing.T) {
	e := newVolEnv(t, true)
	ctx := t.Context()
	root := e.volume(103, "bt", 64<<20)
	e.conf(103, "rootfs: "+root+",size=64M\n")
	e.mustTask(e.s.snapshotCreateTask(ctx, nil, &api.CTSnapshotCreateParams{VMID: 103, SnapName: "s1", Description: "old"}))
	desc := "new text"
	if _, err := e.s.snapshotConfigUpdate(ctx, nil, &api.SnapshotUpdateParams{VMID: 103, SnapName: "s1", Description: &desc}); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.snapshotConfig(ctx, nil, &api.SnapshotParams{VMID: 103, SnapName: "s1"})
	if err != nil || got["description"] != "new text" || got["rootfs"] == nil {
		t.Fatalf("snapshot config: %v %v", got, err)
	}
	if _, err := e.s.snapshotConfig(ctx, nil, &api.SnapshotParams{VMID: 103, SnapName: "nope"}); err == nil ||
		!strings.Contains(err.Error(), "snapshot 'nope' does not exist") {
		t.Fatalf("config of a missing snapshot: %v", err)
	}
}
