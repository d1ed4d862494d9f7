package ctconf

import (
	"sync"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
)

// schemas holds every key a container configuration may hold: the user
// options and the ones only the system writes. They are built once, on
// first use, and only read afterwards.
var schemas = sync.OnceValue(func() schema.Props {
	opts := api.LXCOptions()
	for k, v := range api.LXCSnapshotOptions() {
		opts[k] = v
	}
	return opts
})

// propOf returns the property string schema of a key such as "rootfs"
// or "net0".
func propOf(key string) *schema.PropString { return schemas()[key].Prop }
