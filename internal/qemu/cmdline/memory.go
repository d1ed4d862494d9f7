package cmdline

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// Memory hotplug constants, as Proxmox VE has them: the memory present
// at boot, the DIMM slots, and the ceiling when the CPU's address width
// allows more.
const (
	hotplugStaticMiB = 1024
	hotplugSlots     = 255
	maxMemMiB        = 4 * 1024 * 1024
)

// addMemory adds -m, the NUMA nodes with their memory backends and, with
// memory hotplug, the DIMMs that make up the memory beyond the static part.
func (b *builder) addMemory() error {
	mem := vmconf.DefaultMemoryMiB
	if v := b.conf["memory"]; v != "" {
		m, err := vmconf.ParseMemory(v)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		mem = m.Current
	}
	sockets, cores, _, err := b.topology()
	if err != nil {
		return err
	}
	numa := boolOpt(b.conf, "numa", false)
	huge := b.conf["hugepages"]
	if huge != "" && !numa {
		return fmt.Errorf("hugepages: needs numa: 1 (huge pages back the NUMA nodes' memory)")
	}
	static := mem
	if b.hotplug.Memory {
		if !numa {
			return fmt.Errorf("hotplug memory: needs numa: 1")
		}
		for i := 0; i < 8; i++ {
			if _, ok := b.conf["numa"+strconv.Itoa(i)]; ok {
				return fmt.Errorf("hotplug memory: cannot be combined with a custom NUMA topology (numa%d)", i)
			}
		}
		static = hotplugStaticMiB
		if huge == "1024" {
			static *= sockets
		}
		if mem < static {
			return fmt.Errorf("memory: %d MiB is less than the %d MiB a VM with memory hotplug starts with", mem, static)
		}
		max := b.maxMem()
		if mem > max {
			return fmt.Errorf("memory: %d MiB is more than the %d MiB the guest's address width allows", mem, max)
		}
		b.add("-m", fmt.Sprintf("size=%d,slots=%d,maxmem=%dM", static, hotplugSlots, max))
	} else {
		b.add("-m", strconv.Itoa(mem))
	}
	if !numa {
		return nil
	}
	nodes, err := b.numaNodes(static, sockets, cores)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		obj, err := b.memObject("ram-node"+strconv.Itoa(n.id), n.mem, n.hostnodes, n.policy)
		if err != nil {
			return fmt.Errorf("numa%d: %w", n.id, err)
		}
		b.add("-object", obj.String())
		arg := opts{{"driver", "node"}, {"nodeid", n.id}}
		for _, r := range n.cpus {
			arg = append(arg, opt{"cpus", idRange(r)})
		}
		b.add("-numa", append(arg, opt{"memdev", "ram-node" + strconv.Itoa(n.id)}).String())
	}
	if b.hotplug.Memory {
		return b.addDIMMs(mem, sockets, nodes)
	}
	return nil
}

// maxMem is the most memory hotplug can reach: half the guest's physical
// address space, at most 4 TiB. QEMU refuses a maxmem beyond what the
// CPU's phys-bits can address; it defaults to 40 bits.
func (b *builder) maxMem() int {
	bits := 40
	if b.cpu != nil {
		switch pb := b.cpu.PhysBits; pb {
		case "":
		case "host":
			if b.in.Host.PhysBits > 0 {
				bits = b.in.Host.PhysBits
			}
		default:
			if n, err := strconv.Atoi(pb); err == nil {
				bits = n
			}
		}
	}
	if bits-21 >= 31 {
		return maxMemMiB
	}
	return min(1<<(bits-21), maxMemMiB)
}

// numaNode is one guest NUMA node.
type numaNode struct {
	id        int
	cpus      [][2]int
	mem       int // MiB
	hostnodes [][2]int
	policy    string
}

// numaNodes reads numa0-7, or without them makes one node per socket
// with an equal share of the memory.
func (b *builder) numaNodes(static, sockets, cores int) ([]numaNode, error) {
	var nodes []numaNode
	total := 0
	for i := 0; i < 8; i++ {
		v, ok := b.conf["numa"+strconv.Itoa(i)]
		if !ok {
			continue
		}
		n, err := vmconf.ParseNUMA(v)
		if err != nil {
			return nil, fmt.Errorf("numa%d: %w", i, err)
		}
		mem, ok := n.Memory.Get()
		if !ok || mem <= 0 || mem != math.Trunc(mem) {
			return nil, fmt.Errorf("numa%d: needs memory, a whole number of MiB", i)
		}
		node := numaNode{id: i, cpus: n.CPURanges(), mem: int(mem), hostnodes: n.HostNodeRanges(), policy: n.Policy}
		if len(node.hostnodes) > 0 && node.policy == "" {
			return nil, fmt.Errorf("numa%d: hostnodes needs a policy (preferred, bind or interleave)", i)
		}
		if len(node.hostnodes) == 0 && b.conf["hugepages"] != "" {
			return nil, fmt.Errorf("numa%d: hugepages need hostnodes on every NUMA node", i)
		}
		total += node.mem
		nodes = append(nodes, node)
	}
	if len(nodes) > 0 {
		if total != static {
			return nil, fmt.Errorf("numa: the nodes have %d MiB together but the VM has %d MiB", total, static)
		}
		return nodes, nil
	}
	if static%sockets != 0 {
		return nil, fmt.Errorf("numa: %d MiB of memory cannot be split evenly across %d sockets", static, sockets)
	}
	for i := 0; i < sockets; i++ {
		nodes = append(nodes, numaNode{id: i, cpus: [][2]int{{i * cores, i*cores + cores - 1}}, mem: static / sockets})
	}
	return nodes, nil
}

// idRange writes a CPU or node range as QEMU takes it: 3 or 0-7.
func idRange(r [2]int) string {
	if r[0] == r[1] {
		return strconv.Itoa(r[0])
	}
	return fmt.Sprintf("%d-%d", r[0], r[1])
}

// memObject is a memory backend: plain RAM, or a file on the hugetlbfs
// mount of the chosen page size. Host node ranges repeat the key, which
// QEMU's option parser collects into a list.
func (b *builder) memObject(id string, mib int, hostnodes [][2]int, policy string) (opts, error) {
	o := opts{{"driver", "memory-backend-ram"}, {"id", id}, {"size", strconv.Itoa(mib) + "M"}}
	if huge := b.conf["hugepages"]; huge != "" {
		page, err := b.hugePageSize(huge, mib)
		if err != nil {
			return nil, err
		}
		o = opts{{"driver", "memory-backend-file"}, {"id", id}, {"size", strconv.Itoa(mib) + "M"},
			{"mem-path", fmt.Sprintf("/run/hugepages/kvm/%dkB", page*1024)}, {"share", true}, {"prealloc", true}}
	}
	for _, r := range hostnodes {
		o = append(o, opt{"host-nodes", idRange(r)})
	}
	if len(hostnodes) > 0 {
		o = append(o, opt{"policy", policy})
	}
	return o, nil
}

// hugePageSize picks the page size in MiB for a backend of mib MiB.
func (b *builder) hugePageSize(setting string, mib int) (int, error) {
	sizes := b.in.Host.HugePageSizes
	if len(sizes) == 0 {
		sizes = []int{2}
	}
	if setting == "any" {
		if slices.Contains(sizes, 1024) && mib%1024 == 0 {
			return 1024, nil
		}
		if slices.Contains(sizes, 2) && mib%2 == 0 {
			return 2, nil
		}
		return 0, fmt.Errorf("hugepages any: no huge page size of this host (%v MiB) divides %d MiB", sizes, mib)
	}
	page, err := strconv.Atoi(setting)
	if err != nil {
		return 0, fmt.Errorf("hugepages: %q is not any, 2 or 1024", setting)
	}
	if mib%page != 0 {
		return 0, fmt.Errorf("hugepages: %d MiB is not a multiple of the %d MiB page size", mib, page)
	}
	return page, nil
}

// addDIMMs plugs the memory above the static part as DIMMs, spread over
// the NUMA nodes in turn: 32 DIMMs of 512 MiB (1 GiB with 1 GiB pages),
// then 32 of twice the size, and so on, as Proxmox VE lays them out so
// that later hot-plugs continue the same pattern.
func (b *builder) addDIMMs(mem, sockets int, nodes []numaNode) error {
	current, size := hotplugStaticMiB, 512
	if b.conf["hugepages"] == "1024" {
		current, size = hotplugStaticMiB*sockets, 1024
	}
	id := 0
	for round := 0; current < mem; round++ {
		if round == 8 {
			return fmt.Errorf("memory: %d MiB is more than memory hotplug's 8 rounds of 32 DIMMs reach", mem)
		}
		for i := 0; i < 32 && current < mem; i++ {
			name := fmt.Sprintf("dimm%d", id)
			node := nodes[i%len(nodes)].id
			id++
			current += size
			if current > mem {
				return fmt.Errorf("memory: %d MiB does not fit the DIMM layout of memory hotplug; the next step is %d MiB", mem, current)
			}
			obj, err := b.memObject("mem-"+name, size, nil, "")
			if err != nil {
				return err
			}
			b.add("-object", obj.String())
			b.add("-device", opts{{"driver", "pc-dimm"}, {"id", name}, {"memdev", "mem-" + name}, {"node", node}}.String())
		}
		size *= 2
	}
	return nil
}
