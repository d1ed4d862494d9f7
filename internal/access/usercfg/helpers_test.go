package usercfg

import (
	"testing"

	"github.com/hearth-virt/hearth/internal/access/privs"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustPrivs(t *testing.T, names ...string) privs.Set {
	t.Helper()
	s, err := privs.SetOf(names...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
