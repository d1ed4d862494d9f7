package daemon

import (
	"context"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/internal/logbook"
)

// pveVersionString is what node status reports in "pveversion", in the
// shape Proxmox VE uses there (manager/version/build).
func pveVersionString() string {
	return "pve-manager/" + api.PVEVersion + "/hearth-" + api.HearthVersion
}

func (d *Daemon) nodeStatus(ctx context.Context, c *api.Call, in *api.NodeParam) (api.NodeStatus, error) {
	return d.status.get(d)
}

// statusTTL bounds how old a served node status may be. Reading /proc and
// statfs for every request costs more than the whole rest of a request,
// and the CPU figures change only with each sample anyway.
const statusTTL = time.Second

// statusCache holds the last node status read.
type statusCache struct {
	mu sync.Mutex
	at time.Time
	st api.NodeStatus
}

func (c *statusCache) get(d *Daemon) (api.NodeStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) < statusTTL {
		return c.st, nil
	}
	st, err := d.host.Status(d.sampler, pveVersionString())
	if err != nil {
		return st, err
	}
	c.st, c.at = st, time.Now()
	return st, nil
}

// nodeList lists the nodes of the cluster; usage figures only for online
// nodes and callers who may audit them, as Proxmox VE does.
func (d *Daemon) nodeList(ctx context.Context, c *api.Call, _ *api.NoParams) ([]api.NodeListItem, error) {
	var out []api.NodeListItem
	for _, node := range d.nodeNames() {
		item := api.NodeListItem{Node: node, Status: "offline", ID: "node/" + node, Type: "node"}
		if d.cluster.Online(node) {
			item.Status = "online"
		}
		if st, ok := d.nodeUsage(node); ok && item.Status == "online" && c.Perm.Has("/nodes/"+node, "Sys.Audit") {
			item.CPU, item.MaxCPU = st.CPU, st.MaxCPU
			item.Mem, item.MaxMem, item.Disk, item.MaxDisk = st.Mem, st.MaxMem, st.Disk, st.MaxDisk
			item.Uptime = st.Uptime
			item.SSLFingerprint = d.nodeFingerprint(node)
		}
		out = append(out, item)
	}
	return out, nil
}

func (d *Daemon) nodeTime(ctx context.Context, c *api.Call, _ *api.NodeParam) (api.NodeTime, error) {
	now := time.Now()
	_, offset := now.Zone()
	return api.NodeTime{Time: now.Unix(), LocalTime: now.Unix() + int64(offset), Timezone: timezone()}, nil
}

// timezone names the host's time zone as /etc/timezone or the zoneinfo
// link say; time.Local only knows "Local".
func timezone() string {
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if tz := strings.TrimSpace(string(b)); tz != "" {
			return tz
		}
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if _, tz, ok := strings.Cut(target, "zoneinfo/"); ok {
			return tz
		}
	}
	if tz := os.Getenv("TZ"); tz != "" {
		return tz
	}
	return "UTC"
}

// syslogTimeLayouts are the forms the since and until parameters accept.
var syslogTimeLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"}

func parseLocalTime(s string) (time.Time, error) {
	var err error
	for _, l := range syslogTimeLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

func (d *Daemon) syslog(ctx context.Context, c *api.Call, in *api.SyslogParams) (api.Paged[api.LogLine], error) {
	q := logbook.SyslogQuery{Start: in.Start, Limit: in.Limit, Service: in.Service}
	var err error
	if in.Since != "" {
		if q.Since, err = parseLocalTime(in.Since); err != nil {
			return api.Paged[api.LogLine]{}, api.ParamError("since", "not a date and time: %v", err)
		}
	}
	if in.Until != "" {
		if q.Until, err = parseLocalTime(in.Until); err != nil {
			return api.Paged[api.LogLine]{}, api.ParamError("until", "not a date and time: %v", err)
		}
	}
	lines, total, err := d.book.Syslog(q)
	if err != nil {
		return api.Paged[api.LogLine]{}, err
	}
	out := make([]api.LogLine, len(lines))
	for i, l := range lines {
		out[i] = api.LogLine{N: in.Start + i + 1, T: l}
	}
	return api.Paged[api.LogLine]{Items: out, Total: total}, nil
}

func (d *Daemon) journal(ctx context.Context, c *api.Call, in *api.JournalParams) ([]string, error) {
	q := logbook.JournalQuery{StartCursor: in.StartCursor, EndCursor: in.EndCursor}
	if in.Since != nil {
		q.Since = time.Unix(*in.Since, 0)
	}
	if in.Until != nil {
		q.Until = time.Unix(*in.Until, 0)
	}
	if in.LastEntries != nil {
		q.LastEntries = *in.LastEntries
	}
	return d.book.Journal(q)
}
