//go:build tools

// Package tools pins MetalLB's controller and speaker, which build.sh compiles from the module.
package tools

import (
	_ "go.universe.tf/metallb/controller"
	_ "go.universe.tf/metallb/speaker"
)
