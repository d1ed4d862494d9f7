package ifaces

import (
	"os"
	"slices"
	"testing"
)

func TestIncludesListsSourceLinesInOrder(t *testing.T) {
	data, err := os.ReadFile("testdata/files/source-mapping.interfaces")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Include{
		{Directory: true, Pattern: "/etc/network/interfaces.d"},
		{Pattern: "/etc/network/interfaces.d/*.cfg"},
		{Pattern: "/etc/network/extra-bridges"},
	}
	if got := f.Includes(); !slices.Equal(got, want) {
		t.Fatalf("Includes() = %+v, want %+v", got, want)
	}
}
