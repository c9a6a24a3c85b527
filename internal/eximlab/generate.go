package eximlab

import (
	"context"
	"errors"
)

// GenerateConfig configures Generate.
type GenerateConfig struct {
	Dir         string
	Relay       int
	Normal      int
	Seed        int64
	LogSelector string
}

// Generate is written below.
func Generate(ctx context.Context, c GenerateConfig) (string, error) {
	return "", errors.New("not yet")
}
