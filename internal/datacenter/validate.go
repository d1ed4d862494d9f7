package datacenter

import (
	"fmt"

	"github.com/hearth-virt/hearth/api/schema"
)

// rebalanceKeys are the crs keys that only mean something with automatic
// rebalancing; Proxmox VE declares each as requiring ha-auto-rebalance.
var rebalanceKeys = []string{
	"ha-auto-rebalance-hold-duration",
	"ha-auto-rebalance-margin",
	"ha-auto-rebalance-method",
	"ha-auto-rebalance-threshold",
}

// checkProperties checks what a property string's schema cannot say on
// its own: dependencies between keys, and next-id's range.
func checkProperties(key string, m map[string]string) error {
	switch key {
	case "crs":
		if _, ok := m["ha-auto-rebalance"]; ok {
			return nil
		}
		for _, k := range rebalanceKeys {
			if _, ok := m[k]; ok {
				return fmt.Errorf("%s needs ha-auto-rebalance to be given too", k)
			}
		}
	case "next-id":
		lower, upper := nextIDRange(m)
		if lower >= upper {
			return fmt.Errorf("the range is empty: lower (%d) must be below upper (%d), which is exclusive; "+
				"the defaults are lower=%d and upper=%d", lower, upper, DefaultNextIDLower, DefaultNextIDUpper)
		}
	}
	return nil
}

// nextIDRange reads a parsed next-id value, with the defaults for missing
// keys. The values were checked against the schema, so they parse.
func nextIDRange(m map[string]string) (lower, upper int) {
	lower, upper = DefaultNextIDLower, DefaultNextIDUpper
	if v, ok := m["lower"]; ok {
		n, _ := schema.ParseInt(v)
		lower = int(n)
	}
	if v, ok := m["upper"]; ok {
		n, _ := schema.ParseInt(v)
		upper = int(n)
	}
	return lower, upper
}
