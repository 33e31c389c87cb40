// Package simstate gives the fake drivers of the sim backend a JSON file to survive a
// restart, and a configurable latency so the sandbox behaves like a host that takes time.
package simstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// File persists a value as JSON, written atomically.
type File struct {
	Path  string        // "" keeps nothing
	Delay time.Duration // added to every driver call
}

// Load reads the file into v; a missing file leaves v as it is.
func (f File) Load(v any) error {
	if f.Path == "" {
		return nil
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("sim state %s: %w", f.Path, err)
	}
	return nil
}

// Save writes v to the file.
func (f File) Save(v any) error {
	if f.Path == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o750); err != nil {
		return err
	}
	tmp := f.Path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.Path)
}

// Wait sleeps for the delay, or until ctx ends.
func (f File) Wait(ctx context.Context) error {
	if f.Delay <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
