package guestconf

import (
	"log/slog"
	"reflect"
	"testing"

	"github.com/hearth-virt/hearth/internal/cfs"
)

func TestList(t *testing.T) {
	ctx := t.Context()
	store, err := cfs.Open(ctx, cfs.Config{Dir: t.TempDir(), NodeID: "n1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := List(store); err == nil || got != nil {
		t.Errorf("a tree without nodes/: %v, %v", got, err)
	}
	if _, err := store.Apply(ctx,
		cfs.Write("nodes/a/qemu-server/100.conf", []byte("name: web\n")),
		cfs.Write("nodes/a/lxc/101.conf", []byte("hostname: ct\n")),
		cfs.Write("nodes/b/qemu-server/200.conf", []byte("")),
		cfs.Write("nodes/b/qemu-server/notes.txt", []byte("")),
		cfs.Write("nodes/b/qemu-server/abc.conf", []byte("")),
		cfs.Write("nodes/b/qemu-server/99.conf", []byte("")),
		cfs.Write("nodes/b/openvz/300.conf", []byte("")),
	); err != nil {
		t.Fatal(err)
	}
	got, err := List(store)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range got {
		ids = append(ids, g.Node+"/"+g.Kind+"/"+Value(g.Entry.Data, "name")+Value(g.Entry.Data, "hostname"))
	}
	want := []string{"a/qemu/web", "a/lxc/ct", "b/qemu/"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("guests: %v, want %v", ids, want)
	}
}

func TestValue(t *testing.T) {
	conf := []byte("name: vm1\ntags: a;b\nmemory: 512\n\n[snap1]\nname: old\nmemory: 256\n")
	for key, want := range map[string]string{"name": "vm1", "tags": "a;b", "memory": "512", "cores": ""} {
		if got := Value(conf, key); got != want {
			t.Errorf("Value(%q) = %q, want %q", key, got, want)
		}
	}
}
