package hostinfo

import "fmt"

// Status assembles the GET /nodes/{node}/status object. CPU figures come
// from s, which may be nil (they are then 0); when s was made from this
// same Reader its cached static facts are used. pveversion is reported
// as it is, in the key where PVE names its manager package and version.
func (r Reader) Status(s *Sampler, pveversion string) (NodeStatus, error) {
	var (
		st  Static
		err error
	)
	if s != nil && s.r == r {
		st, err = s.Static()
	} else {
		st, err = r.Static()
	}
	if err != nil {
		return NodeStatus{}, fmt.Errorf("node status: %w", err)
	}
	mem, swap, err := r.Memory()
	if err != nil {
		return NodeStatus{}, fmt.Errorf("node status: %w", err)
	}
	load, err := r.LoadAvg()
	if err != nil {
		return NodeStatus{}, fmt.Errorf("node status: %w", err)
	}
	up, err := r.Uptime()
	if err != nil {
		return NodeStatus{}, fmt.Errorf("node status: %w", err)
	}
	rootfs, err := r.RootFS()
	if err != nil {
		return NodeStatus{}, fmt.Errorf("node status: %w", err)
	}
	ksm, err := r.KSMShared()
	if err != nil {
		return NodeStatus{}, fmt.Errorf("node status: %w", err)
	}
	var cpu, wait float64
	if s != nil {
		cpu, wait = s.CPU()
	}
	return NodeStatus{
		CPU:           cpu,
		Wait:          wait,
		Uptime:        up,
		LoadAvg:       load,
		KVersion:      st.KVersion(),
		PVEVersion:    pveversion,
		CPUInfo:       st.CPUInfo,
		Memory:        mem,
		Swap:          swap,
		RootFS:        rootfs,
		KSM:           KSM{Shared: ksm},
		CurrentKernel: st.Kernel,
		BootInfo:      st.Boot,
	}, nil
}
