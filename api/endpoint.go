package api

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/hearth-virt/hearth/api/schema"
)

// Endpoint is the declaration of one API call: everything the server, the
// CLI, completion, man pages and the schema documents need to know about
// it. It is written once, in this package, and never changed at run time.
type Endpoint struct {
	// Path in Proxmox VE style, with {name} for path parameters.
	Path   string
	Method string // GET, POST, PUT or DELETE
	// Name is a stable identifier for the call, unique per path (Proxmox
	// VE's "name"), such as "read_task_status".
	Name        string
	Description string
	// Params declares every parameter, including the path parameters.
	Params schema.Props
	// AllowExtra accepts parameters beyond Params (endpoints with dynamic
	// keys). Extra values reach the handler as strings.
	AllowExtra bool
	Returns    schema.Schema
	Perm       Permission
	// ProxyTo names the parameter holding the node that must execute the
	// call. The server forwards the request there when it is another node.
	ProxyTo string
	// Task marks calls that return a task id at once and do their work in
	// the task runner.
	Task bool
	// Protected calls change the host or the cluster; kept for the schema
	// dump, where Proxmox VE clients expect it.
	Protected bool
	// NoToken refuses API tokens for this call (ticket or root socket only).
	NoToken bool
	// NoCSRF exempts a ticket-authenticated non-GET call from the CSRF
	// header check (login and uploads).
	NoCSRF bool
	// Upload names the parameter that carries a file sent as
	// multipart/form-data. The server streams that part to the handler
	// (Call.Upload) instead of reading it into memory, and the part's file
	// name becomes the parameter's value. The file part must come after
	// the other fields.
	Upload string
	// CLI places the call in the command-line tools.
	CLI []Command
	// WebSocket marks a GET call whose handler returns a Tunnel: a request
	// asking to upgrade becomes a websocket served by the tunnel, a plain
	// request gets the tunnel's Answer (consoles; see Tunnel).
	WebSocket bool

	in, out reflect.Type
}

// Command places an endpoint in a CLI tool, such as `pvenode task list`.
type Command struct {
	Tool string // "pvenode"
	// Words after the tool name, such as "task list".
	Cmd string
	// Args are parameters given as positional arguments, in order.
	Args []string
	// Fixed parameters are filled by the tool. The value "<local>" means
	// the name of the node the CLI talks to.
	Fixed map[string]string
	// Columns for text output of a list, in order. Empty means every
	// property of the declared return schema.
	Columns []string
	// SortBy orders rows in text output.
	SortBy string
	// Complete names a completion source for parameters whose format does
	// not imply one: "node", "vmid", "storage", "upid", "path", "file".
	Complete map[string]string
	// Output picks a special printer: "" (by schema), "log" (task log
	// lines), "raw" (strings as they are), "created" (a new object's id,
	// as "successfully created '<id>'").
	Output string
	// Client names what the tool does around the call, for commands that
	// are more than one call: "wait" (repeat the call until the guest has
	// stopped), "guest-exec" (start a program through the guest agent and
	// wait for its end), "terminal" (attach to the console session the call
	// opened), "ct-exec" (print what a container's command printed and end
	// with its exit code), "ct-pull" (write the file read from a container
	// to a local file). Local declares the options such a command takes
	// itself, which Args may also name; they are never sent.
	Client string
	Local  schema.Props
	// FileParams are parameters given on the command line as the path of
	// a local file: the tool reads the file and sends its content, as
	// Proxmox VE's pct does with --ssh-public-keys.
	FileParams []string
}

// LocalNode is the Fixed value meaning "the node the CLI talks to".
const LocalNode = "<local>"

// StorageOfVolume is the Fixed value meaning "the storage of the volume
// id given as the volume parameter", for pvesm commands that take a
// volume id alone.
const StorageOfVolume = "<storage-of-volume>"

// Key identifies an endpoint uniquely.
func (e *Endpoint) Key() string { return e.Method + " " + e.Path }

// PathParams lists the {name} parameters of the path, in order.
func (e *Endpoint) PathParams() []string {
	var names []string
	for _, seg := range strings.Split(e.Path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, seg[1:len(seg)-1])
		}
	}
	return names
}

// InType and OutType are the Go types of input and output.
func (e *Endpoint) InType() reflect.Type  { return e.in }
func (e *Endpoint) OutType() reflect.Type { return e.out }

// Call is what a handler knows about the request besides its input.
type Call struct {
	// User is the authenticated user id, such as admin@pve.
	User string
	// Token is the full token id when an API token authenticated the call.
	Token string
	// Node is the name of the node executing the call.
	Node string
	// Perm answers permission questions for this caller, for handlers that
	// filter what they return (list endpoints).
	Perm Checker
	// RemoteAddr is the client's address, for audit logs.
	RemoteAddr string
	// Upload is the streamed file of an Upload endpoint sent as
	// multipart/form-data; nil otherwise.
	Upload *Upload
	// StartTask starts a task for the caller and returns its id, for
	// handlers that answer with more than the task id (consoles).
	StartTask func(t Task) (upid string, err error)
}

// Tunnel is the result of a WebSocket endpoint whose handler accepted the
// request. After the upgrade the server calls Serve with the connection
// as a byte stream: Read returns the payloads of the client's messages in
// order, regardless of message boundaries (Proxmox VE's proxy hands its
// backends the same stream), and each Write is sent as one message.
type Tunnel struct {
	// Answer is the result for a request that does not ask to upgrade.
	Answer any
	// Serve runs the connection; an error is sent as the close reason.
	Serve func(ctx context.Context, conn io.ReadWriteCloser) error
}

// Checker answers permission questions for one caller.
type Checker interface {
	// Has reports whether the caller holds all privs on path.
	Has(path string, privs ...string) bool
	// HasAny reports whether the caller holds at least one of privs on path.
	HasAny(path string, privs ...string) bool
}

// Invoker runs a bound handler with decoded parameters.
type Invoker func(ctx context.Context, c *Call, values map[string]any) (any, error)

// Route is an endpoint bound to its handler.
type Route struct {
	*Endpoint
	Invoke Invoker
	// RunTask is set for task endpoints instead of Invoke returning the
	// result: the handler's Task, which the server hands to the runner.
	RunTask func(ctx context.Context, c *Call, values map[string]any) (Task, error)
}

// Decl is a typed endpoint declaration: In is the parameter struct and Out
// the result type.
type Decl[In, Out any] struct{ E *Endpoint }

// Declare makes a typed declaration of e.
func Declare[In, Out any](e Endpoint) Decl[In, Out] {
	e.in = reflect.TypeFor[In]()
	e.out = reflect.TypeFor[Out]()
	return Decl[In, Out]{E: &e}
}

// Handle binds a handler. It panics when In does not match the declared
// parameters: a programming error that the registry test finds.
func (d Decl[In, Out]) Handle(h func(ctx context.Context, c *Call, in *In) (Out, error)) Route {
	if d.E.Task {
		panic(fmt.Sprintf("%s is a task endpoint: bind it with HandleTask", d.E.Key()))
	}
	bind := mustBinder[In](d.E)
	return Route{Endpoint: d.E, Invoke: func(ctx context.Context, c *Call, values map[string]any) (any, error) {
		in := new(In)
		if err := bind(values, in); err != nil {
			return nil, err
		}
		return h(ctx, c, in)
	}}
}

// TaskDecl is a typed declaration of a task endpoint; its result on the
// wire is the task id.
type TaskDecl[In any] struct{ E *Endpoint }

// DeclareTask makes a typed declaration of a task endpoint.
func DeclareTask[In any](e Endpoint) TaskDecl[In] {
	e.Task = true
	if e.Returns.Type == "" {
		e.Returns = schema.Schema{Type: schema.String, Description: "The id (UPID) of the task doing the work."}
	}
	e.in = reflect.TypeFor[In]()
	e.out = reflect.TypeFor[string]()
	return TaskDecl[In]{E: &e}
}

// Handle binds a task handler: it checks its input, then returns the work.
func (d TaskDecl[In]) Handle(h func(ctx context.Context, c *Call, in *In) (Task, error)) Route {
	bind := mustBinder[In](d.E)
	return Route{Endpoint: d.E, RunTask: func(ctx context.Context, c *Call, values map[string]any) (Task, error) {
		in := new(In)
		if err := bind(values, in); err != nil {
			return Task{}, err
		}
		return h(ctx, c, in)
	}}
}

// NoParams is the input type of endpoints without parameters.
type NoParams struct{}

// Params is the input type of endpoints that want the decoded values as a map.
type Params map[string]any

func mustBinder[In any](e *Endpoint) func(map[string]any, *In) error {
	t := reflect.TypeFor[In]()
	if t == reflect.TypeFor[Params]() {
		return func(values map[string]any, in *In) error {
			*any(in).(*Params) = Params(values)
			return nil
		}
	}
	b, err := schema.NewBinder(t, e.Params)
	if err != nil {
		panic(fmt.Sprintf("%s: %v", e.Key(), err))
	}
	return func(values map[string]any, in *In) error { return b.Bind(values, in) }
}
