package daemon

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/hearth-virt/hearth/api"
	"github.com/hearth-virt/hearth/api/schema"
	"github.com/hearth-virt/hearth/internal/task"
)

// ownsTask reports whether the caller started the task, or is the user
// whose API token started it.
func ownsTask(c *api.Call, taskUser string) bool {
	if c.Token != "" {
		return taskUser == c.Token
	}
	user, _, _ := strings.Cut(taskUser, "!")
	return user == c.User
}

// taskFor finds a task the caller may see: its own, or any with priv on
// the node.
func (d *Daemon) taskFor(c *api.Call, upid, priv string) (task.Status, error) {
	st, err := d.tasks.Status(upid)
	if errors.Is(err, task.ErrNotFound) {
		return st, api.Errorf(http.StatusNotFound, "no such task: %s", upid)
	}
	if err != nil {
		return st, api.ParamError("upid", "%v", err)
	}
	if !ownsTask(c, st.User) && !c.Perm.Has("/nodes/"+d.cfg.Node, priv) {
		return st, &api.Denied{Path: "/nodes/" + d.cfg.Node, Priv: priv}
	}
	return st, nil
}

func (d *Daemon) taskList(ctx context.Context, c *api.Call, in *api.TaskListParams) (api.Paged[api.TaskListItem], error) {
	f := task.Filter{Start: in.Start, Limit: in.Limit, TypeFilter: in.TypeFilter, UserFilter: in.UserFilter,
		Errors: in.Errors, Source: in.Source}
	if in.Limit == 0 {
		f.Limit = -1 // an explicit 0 is "no limit" here; the runner's 0 means its default
	}
	if in.VMID != nil {
		f.VMID = int(*in.VMID)
	}
	if in.Since != nil {
		f.Since = *in.Since
	}
	if in.Until != nil {
		f.Until = *in.Until
	}
	if in.StatusFilter != "" {
		f.StatusFilter = schema.SplitList(in.StatusFilter)
	}
	if err := f.Validate(); err != nil {
		return api.Paged[api.TaskListItem]{}, api.ParamError("statusfilter", "%v", err)
	}
	if !c.Perm.Has("/nodes/"+d.cfg.Node, "Sys.Audit") {
		// Without audit rights only one's own tasks are listed: filter
		// before paging so start, limit and total stay consistent.
		all := f
		all.Start, all.Limit = 0, -1
		items, _ := d.tasks.List(all)
		mine := items[:0]
		for _, it := range items {
			if ownsTask(c, it.User) {
				mine = append(mine, it)
			}
		}
		return page(mine, in.Start, f.Limit), nil
	}
	items, total := d.tasks.List(f)
	return api.Paged[api.TaskListItem]{Items: items, Total: total}, nil
}

func page[T any](items []T, start, limit int) api.Paged[T] {
	total := len(items)
	if start > total {
		start = total
	}
	end := total
	if limit >= 0 && start+limit < end {
		end = start + limit
	}
	return api.Paged[T]{Items: items[start:end], Total: total}
}

func (d *Daemon) taskStatus(ctx context.Context, c *api.Call, in *api.TaskParams) (api.TaskStatus, error) {
	return d.taskFor(c, in.UPID, "Sys.Audit")
}

func (d *Daemon) taskLog(ctx context.Context, c *api.Call, in *api.TaskLogParams) (api.Paged[api.LogLine], error) {
	if _, err := d.taskFor(c, in.UPID, "Sys.Audit"); err != nil {
		return api.Paged[api.LogLine]{}, err
	}
	limit := in.Limit
	if limit == 0 {
		limit = -1
	}
	lines, total, err := d.tasks.ReadLog(in.UPID, in.Start, limit)
	if err != nil {
		return api.Paged[api.LogLine]{}, err
	}
	return api.Paged[api.LogLine]{Items: lines, Total: total}, nil
}

func (d *Daemon) taskStop(ctx context.Context, c *api.Call, in *api.TaskParams) (any, error) {
	if _, err := d.taskFor(c, in.UPID, "Sys.Modify"); err != nil {
		return nil, err
	}
	return nil, d.tasks.Stop(in.UPID)
}
