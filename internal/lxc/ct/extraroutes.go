package ct

import "github.com/hearth-virt/hearth/api"

// extraRoutes binds Hearth's additions for containers, the API behind
// pct exec, push, pull, mount, unmount and fsck.
func (s *Service) extraRoutes() []api.Route {
	return []api.Route{
		api.CTExec.Handle(s.execCT),
		api.CTPush.Handle(s.push),
		api.CTPull.Handle(s.pull),
		api.CTMount.Handle(s.mountCT),
		api.CTUnmount.Handle(s.unmountCT),
		api.CTFsck.Handle(s.fsckTask),
	}
}

// ConsoleRoutes binds the console endpoints of containers. Sessions live
// in the memory of this node, which is where vncwebsocket requests for
// its containers end up (the API server forwards them by the node
// parameter).
func (s *Service) ConsoleRoutes(tickets ConsoleTickets) []api.Route {
	c := newConsoles(s, tickets)
	return []api.Route{
		api.CTVNCProxy.Handle(c.vncProxy),
		api.CTTermProxy.Handle(c.termProxy),
		api.CTVNCWebSocket.Handle(c.webSocket),
	}
}
