package vm

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/guestconf"
	"github.com/hearth-virt/hearth/internal/qemu/vmconf"
)

// qemuOptions is the schema of every configuration key, built once: the
// declarations do not change while the daemon runs.
var qemuOptions = sync.OnceValue(api.QemuOptions)

// typedValue is a configuration value as the API returns it: integers
// and booleans as JSON numbers, number-typed keys and property strings
// as strings, as Proxmox VE's typed clients expect (see COMPAT.md).
func typedValue(key, value string) any {
	s, ok := qemuOptions()[key]
	if !ok {
		return value
	}
	switch s.Type {
	case schema.Integer:
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			return n
		}
	case schema.Boolean:
		if value == "1" {
			return 1
		}
		if value == "0" {
			return 0
		}
	}
	return value
}

func (s *Service) getConfig(_ context.Context, _ *api.Call, in *api.VMConfigParams) (map[string]any, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return nil, err
	}
	out, err := c.View(in.Snapshot, in.Current, typedValue)
	if err != nil {
		return nil, err
	}
	// Secrets stay inside: a set password shows as stars.
	if _, ok := out["cipassword"]; ok {
		out["cipassword"] = "**********"
	}
	return out, nil
}

func (s *Service) pending(_ context.Context, _ *api.Call, in *api.VMParam) ([]api.VMPending, error) {
	c, err := s.load(in.VMID)
	if err != nil {
		return nil, err
	}
	rows := c.PendingRows(typedValue)
	for i := range rows {
		if rows[i].Key == "cipassword" {
			rows[i].Value, rows[i].Pending = hideSecret(rows[i].Value), hideSecret(rows[i].Pending)
		}
	}
	return rows, nil
}

func hideSecret(v any) any {
	if v == nil {
		return nil
	}
	return "**********"
}

// updateRequest is a decoded change of …/config.
type updateRequest struct {
	vmid     int
	values   map[string]string
	deletes  []string
	revert   []string
	force    bool
	skipLock bool
	digest   string
}

func parseUpdate(p api.Params) (*updateRequest, error) {
	r := &updateRequest{vmid: paramInt(p, "vmid"), values: configValues(p), force: paramBool(p, "force"),
		skipLock: paramBool(p, "skiplock"), digest: paramStr(p, "digest")}
	r.deletes = schema.SplitList(paramStr(p, "delete"))
	r.revert = schema.SplitList(paramStr(p, "revert"))
	for _, k := range r.deletes {
		if _, both := r.values[k]; both {
			return nil, api.ParamError("delete", "cannot set and delete '%s' at once", k)
		}
		if slices.Contains(r.revert, k) {
			return nil, api.ParamError("delete", "cannot revert and delete '%s' at once", k)
		}
	}
	for _, k := range r.revert {
		if _, both := r.values[k]; both {
			return nil, api.ParamError("revert", "cannot set and revert '%s' at once", k)
		}
	}
	if len(r.values) == 0 && len(r.deletes) == 0 && len(r.revert) == 0 {
		return nil, api.Errorf(http.StatusBadRequest, "no options specified")
	}
	return r, nil
}

func (s *Service) checkUpdate(ctx context.Context, c *api.Call, r *updateRequest) (map[string]string, error) {
	if err := checkKeys(c, r.vmid, r.values, append(slices.Clone(r.deletes), r.revert...)); err != nil {
		return nil, err
	}
	for k, v := range r.values {
		if strings.HasPrefix(k, "net") {
			if n, err := vmconf.ParseNet(k, v); err == nil && n.MACAddr == "" {
				n.MACAddr = s.macFor(r.vmid, k)
				r.values[k] = n.String()
			}
		}
	}
	if err := hashCIPassword(r.values); err != nil {
		return nil, err
	}
	clean, _, err := vmconf.Validate(r.vmid, r.values, true)
	if err != nil {
		return nil, api.Errorf(http.StatusBadRequest, "%v", err)
	}
	if err := s.checkDrives(ctx, c, r.vmid, clean); err != nil {
		return nil, err
	}
	for _, k := range r.deletes {
		if err := guestconf.CheckKey(k); err != nil {
			return nil, api.ParamError("delete", "%v", err)
		}
	}
	return clean, nil
}

// macFor keeps the MAC of a NIC whose value is replaced without one, so
// that changing the bridge does not change the guest's address.
func (s *Service) macFor(vmid int, key string) string {
	if c, err := s.load(vmid); err == nil {
		for _, sec := range []*guestconf.Section{c.File.Pending, c.File.Main} {
			if v, ok := sec.Get(key); ok {
				if n, err := vmconf.ParseNet(key, v); err == nil && n.MACAddr != "" {
					return n.MACAddr
				}
			}
		}
	}
	return vmconf.GenerateMAC(s.o.MACPrefix(), nil)
}

func (s *Service) updateSync(ctx context.Context, c *api.Call, p *api.Params) (any, error) {
	r, err := parseUpdate(*p)
	if err != nil {
		return nil, err
	}
	clean, err := s.checkUpdate(ctx, c, r)
	if err != nil {
		return nil, err
	}
	return nil, s.update(ctx, c, r, clean, discardLog{})
}

func (s *Service) updateAsync(ctx context.Context, c *api.Call, p *api.Params) (api.Task, error) {
	r, err := parseUpdate(*p)
	if err != nil {
		return api.Task{}, err
	}
	clean, err := s.checkUpdate(ctx, c, r)
	if err != nil {
		return api.Task{}, err
	}
	return api.Task{Type: "qmconfig", ID: strconv.Itoa(r.vmid), Run: func(ctx context.Context, log api.TaskLog) error {
		return s.update(ctx, c, r, clean, log)
	}}, nil
}

// discardLog is the task log of synchronous calls: their messages go to
// the daemon log only through errors.
type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Warnf(string, ...any)  {}
func (discardLog) Progress(int64, int64) {}
