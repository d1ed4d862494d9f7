package schema

import (
	"reflect"
	"strings"
	"testing"
)

type bindIn struct {
	Node  string   `json:"node"`
	VMID  *int64   `json:"vmid"`
	Force bool     `json:"force"`
	Limit int      `json:"limit"`
	Ratio *float64 `json:"ratio"`
	Mode  string   `json:"mode"`
	IDs   []int64  `json:"ids"`
}

func bindProps() Props {
	return Props{
		"node":  Node().Ptr(),
		"vmid":  VMID().Opt(),
		"force": Bool("Force.").Opt(),
		"limit": IntRange("Limit.", 0, 500).Def(50).Ptr(),
		"ratio": Num("Ratio.").Opt(),
		"mode":  Enum("Mode.", "fast", "slow").Def("fast").Ptr(),
		"ids":   ArrayOf("Ids.", Int("Id.")).Opt(),
	}
}

func TestBinderFillsFieldsAndDefaults(t *testing.T) {
	b, err := NewBinder(reflect.TypeFor[bindIn](), bindProps())
	if err != nil {
		t.Fatal(err)
	}
	vals, errs := DecodeParams(bindProps(), Raw{"node": {"n1"}, "vmid": {"101"}, "ids": {"3", "4"}}, false)
	if errs != nil {
		t.Fatal(errs)
	}
	var in bindIn
	if err := b.Bind(vals, &in); err != nil {
		t.Fatal(err)
	}
	if in.Node != "n1" || in.VMID == nil || *in.VMID != 101 || in.Limit != 50 || in.Mode != "fast" ||
		in.Ratio != nil || in.Force || !reflect.DeepEqual(in.IDs, []int64{3, 4}) {
		t.Fatalf("bound %+v", in)
	}
}

func TestBinderRest(t *testing.T) {
	type withRest struct {
		Node string         `json:"node"`
		Rest map[string]any `param:"rest"`
	}
	props := Props{"node": Node().Ptr(), "net0": Str("NIC.").Opt(), "memory": Int("MiB.").Opt()}
	b, err := NewBinder(reflect.TypeFor[withRest](), props)
	if err != nil {
		t.Fatal(err)
	}
	var in withRest
	if err := b.Bind(map[string]any{"node": "n1", "net0": "virtio", "memory": int64(512)}, &in); err != nil {
		t.Fatal(err)
	}
	if in.Node != "n1" || in.Rest["net0"] != "virtio" || in.Rest["memory"] != int64(512) {
		t.Fatalf("bound %+v", in)
	}
}

func TestBinderRejectsMismatches(t *testing.T) {
	type missingField struct {
		Node string `json:"node"`
	}
	type extraField struct {
		Node  string `json:"node"`
		Other string `json:"other"`
	}
	type wrongType struct {
		Node int `json:"node"`
	}
	type noTag struct {
		Node string
	}
	props := Props{"node": Node().Ptr(), "vmid": VMID().Opt()}
	tests := []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[missingField](), `no field for parameter "vmid"`},
		{reflect.TypeFor[extraField](), `no parameter named "other"`},
		{reflect.TypeFor[wrongType](), "cannot hold a string"},
		{reflect.TypeFor[noTag](), "has no json name"},
		{reflect.TypeFor[string](), "is not a struct"},
	}
	for _, tt := range tests {
		_, err := NewBinder(tt.t, props)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewBinder(%s) = %v, want error containing %q", tt.t, err, tt.want)
		}
	}
}

func TestSchemaDumpShape(t *testing.T) {
	s := VMID().Opt()
	got := s.PVE()
	want := map[string]any{
		"type": "integer", "format": "pve-vmid", "minimum": float64(100), "maximum": float64(999999999),
		"optional": 1, "description": s.Description, "typetext": "<integer> (100 - 999999999)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PVE() = %#v\nwant %#v", got, want)
	}
	b := Bool("x").Def(false)
	if d := b.PVE()["default"]; d != 0 {
		t.Fatalf("boolean default dumped as %#v, want 0", d)
	}
	p := Schema{Type: String, Prop: netFormat(), Optional: true}
	f, ok := p.PVE()["format"].(map[string]any)
	if !ok || f["model"].(map[string]any)["default_key"] != 1 || f["virtio"].(map[string]any)["keyAlias"] != "model" {
		t.Fatalf("property string format dumped as %#v", p.PVE()["format"])
	}
}
