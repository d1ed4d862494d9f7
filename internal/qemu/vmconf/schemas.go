package vmconf

import (
	"sync"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// schemaSet holds the schemas the parsers check against. They are built
// once, on first use, and only read afterwards.
type schemaSet struct {
	// opts are every key a configuration may hold: the user options and
	// the ones only the system writes.
	opts  schema.Props
	drive map[string]*schema.PropString // by bus, including efidisk and tpmstate
}

var schemas = sync.OnceValue(func() *schemaSet {
	s := &schemaSet{opts: api.QemuOptions(), drive: map[string]*schema.PropString{}}
	for k, v := range api.QemuSnapshotOptions() {
		s.opts[k] = v
	}
	for _, bus := range api.QemuDriveBuses {
		s.drive[bus] = s.opts[bus+"0"].Prop
	}
	s.drive["efidisk"] = s.opts["efidisk0"].Prop
	s.drive["tpmstate"] = s.opts["tpmstate0"].Prop
	return s
})

// propOf returns the property string schema of a key such as "cpu" or
// "net0".
func propOf(key string) *schema.PropString { return schemas().opts[key].Prop }
