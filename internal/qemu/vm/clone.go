package vm

import "github.com/hearth-virt/hearth/api"

func (s *Service) cloneRoutes() []api.Route { return nil }
