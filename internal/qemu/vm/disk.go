package vm

import "github.com/hearth-virt/hearth/api"

func (s *Service) diskRoutes() []api.Route { return nil }
