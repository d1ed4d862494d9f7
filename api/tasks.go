package api

import "github.com/hearth-virt/hearth/api/schema"

// TaskListParams is the input of GET /nodes/{node}/tasks.
type TaskListParams struct {
	Node         string `json:"node"`
	Start        int    `json:"start"`
	Limit        int    `json:"limit"`
	VMID         *int64 `json:"vmid"`
	TypeFilter   string `json:"typefilter"`
	UserFilter   string `json:"userfilter"`
	Errors       bool   `json:"errors"`
	Source       string `json:"source"`
	Since        *int64 `json:"since"`
	Until        *int64 `json:"until"`
	StatusFilter string `json:"statusfilter"`
}

// TaskParams is the input of the calls on one task.
type TaskParams struct {
	Node string `json:"node"`
	UPID string `json:"upid"`
}

// TaskLogParams is the input of GET /nodes/{node}/tasks/{upid}/log.
type TaskLogParams struct {
	Node     string `json:"node"`
	UPID     string `json:"upid"`
	Start    int    `json:"start"`
	Limit    int    `json:"limit"`
	Download bool   `json:"download"`
}

// TaskListItem is one row of the task list.
type TaskListItem struct {
	UPID      string `json:"upid"`
	Node      string `json:"node"`
	PID       uint32 `json:"pid"`
	PStart    uint64 `json:"pstart"`
	StartTime int64  `json:"starttime"`
	Type      string `json:"type"`
	ID        string `json:"id"`
	User      string `json:"user"`
	EndTime   int64  `json:"endtime,omitempty"`
	Status    string `json:"status,omitempty"`
}

// TaskStatus is the answer of GET /nodes/{node}/tasks/{upid}/status.
type TaskStatus struct {
	UPID       string `json:"upid"`
	Node       string `json:"node"`
	PID        uint32 `json:"pid"`
	PStart     uint64 `json:"pstart"`
	StartTime  int64  `json:"starttime"`
	Type       string `json:"type"`
	ID         string `json:"id"`
	User       string `json:"user"`
	Status     string `json:"status"`
	ExitStatus string `json:"exitstatus,omitempty"`
}

var taskProps = schema.Props{"node": schema.Node().Ptr(), "upid": schema.UPID().Ptr()}

func taskStatusProps() schema.Props {
	return schema.Props{
		"upid":      schema.UPID().Ptr(),
		"node":      schema.Node().Ptr(),
		"pid":       schema.Int("Process id of the daemon that ran the task.").Ptr(),
		"pstart":    schema.Int("Identifies the task within that daemon process.").Ptr(),
		"starttime": schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "When the task started."}.Ptr(),
		"type":      schema.Str("Task type, such as qmstart.").Ptr(),
		"id":        schema.Str("The object the task works on, such as a guest id.").Ptr(),
		"user":      schema.Str("Who started the task.").Ptr(),
	}
}

func taskListReturns() schema.Schema {
	p := taskStatusProps()
	p["endtime"] = schema.Schema{Type: schema.Integer, Renderer: "timestamp", Description: "When the task ended."}.Opt()
	p["status"] = schema.Str("How the task ended: OK, WARNINGS: <n>, or the error.").Opt()
	return schema.ArrayOf("", schema.Obj("", p))
}

func taskStatusReturns() schema.Schema {
	p := taskStatusProps()
	p["status"] = schema.Enum("Whether the task still runs.", "running", "stopped").Ptr()
	p["exitstatus"] = schema.Str("When stopped: OK, WARNINGS: <n>, or the error.").Opt()
	return schema.Obj("", p)
}

// Task endpoints.
var (
	TaskList = Declare[TaskListParams, Paged[TaskListItem]](Endpoint{
		Path: "/nodes/{node}/tasks", Method: "GET", Name: "node_tasks",
		Description: "List the node's tasks, newest first. Users see their own tasks; with Sys.Audit on the node, everyone's.",
		Params: schema.Props{
			"node":         schema.Node().Ptr(),
			"start":        schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Skip this many tasks."}.Def(int64(0)).Ptr(),
			"limit":        schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Return at most this many tasks."}.Def(int64(50)).Ptr(),
			"vmid":         schema.VMID().Desc("Only tasks of this guest.").Opt(),
			"typefilter":   schema.Schema{Type: schema.String, MaxLength: 64, Description: "Only tasks of this type, such as qmstart."}.Opt(),
			"userfilter":   schema.Schema{Type: schema.String, MaxLength: 128, Description: "Only tasks of users whose id contains this text."}.Opt(),
			"errors":       schema.Bool("Only tasks that did not end OK.").Def(false).Ptr(),
			"source":       schema.Enum("Finished tasks (archive), running ones (active), or both (all).", "archive", "active", "all").Def("archive").Ptr(),
			"since":        schema.Int("Only tasks started at or after this time (seconds since the epoch).").Opt(),
			"until":        schema.Int("Only tasks started before this time (seconds since the epoch).").Opt(),
			"statusfilter": schema.Schema{Type: schema.String, Format: "pve-task-status-type-list", Description: "Only tasks whose outcome is in this list: ok, error, warning, unknown."}.Opt(),
		},
		Perm: AnyUser("Tasks of other users need Sys.Audit on the node."), ProxyTo: "node",
		Returns: taskListReturns(),
		CLI: []Command{{Tool: "pvenode", Cmd: "task list", Fixed: map[string]string{"node": LocalNode},
			Columns: []string{"upid", "type", "id", "user", "starttime", "endtime", "status"}}},
	})

	TaskIndex = Declare[TaskParams, []Child](Endpoint{
		Path: "/nodes/{node}/tasks/{upid}", Method: "GET", Name: "upid_index",
		Description: "List what can be read about a task.",
		Params:      taskProps, Perm: AnyUser(""), ProxyTo: "node", Returns: childIndex("name"),
	})

	TaskStop = Declare[TaskParams, any](Endpoint{
		Path: "/nodes/{node}/tasks/{upid}", Method: "DELETE", Name: "stop_task",
		Description: "Stop a running task.",
		Params:      taskProps,
		Perm:        AnyUser("Users may stop their own tasks; other users' tasks need Sys.Modify on the node."),
		ProxyTo:     "node", Protected: true, Returns: schema.Schema{Type: schema.Null},
		CLI: []Command{{Tool: "pvenode", Cmd: "task stop", Args: []string{"upid"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	TaskStatusGet = Declare[TaskParams, TaskStatus](Endpoint{
		Path: "/nodes/{node}/tasks/{upid}/status", Method: "GET", Name: "read_task_status",
		Description: "Read whether a task still runs and, when it ended, how.",
		Params:      taskProps,
		Perm:        AnyUser("Users may read their own tasks; other users' tasks need Sys.Audit on the node."),
		ProxyTo:     "node", Protected: true, Returns: taskStatusReturns(),
		CLI: []Command{{Tool: "pvenode", Cmd: "task status", Args: []string{"upid"}, Fixed: map[string]string{"node": LocalNode}}},
	})

	TaskLogGet = Declare[TaskLogParams, Paged[LogLine]](Endpoint{
		Path: "/nodes/{node}/tasks/{upid}/log", Method: "GET", Name: "read_task_log",
		Description: "Read a task's log as numbered lines.",
		Params: schema.Props{
			"node":     schema.Node().Ptr(),
			"upid":     schema.UPID().Ptr(),
			"start":    schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Skip this many lines."}.Def(int64(0)).Ptr(),
			"limit":    schema.Schema{Type: schema.Integer, Minimum: schema.F(0), Description: "Return at most this many lines."}.Def(int64(50)).Ptr(),
			"download": schema.Bool("Return the whole log as a file instead.").Opt(),
		},
		Perm:    AnyUser("Users may read their own tasks; other users' tasks need Sys.Audit on the node."),
		ProxyTo: "node", Protected: true, Returns: logLines(),
		CLI: []Command{{Tool: "pvenode", Cmd: "task log", Args: []string{"upid"}, Fixed: map[string]string{"node": LocalNode}, Output: "log"}},
	})
)
