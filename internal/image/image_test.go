package image

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixture writes a fake but well-formed image (qcow2 header, bzImage magic,
// initrd) into dir and returns a valid manifest naming those files.
func fixture(t *testing.T, dir, name string) Manifest {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, 512)
	copy(disk, qcow2Magic)
	binary.BigEndian.PutUint32(disk[4:], 3)
	binary.BigEndian.PutUint64(disk[24:], 256<<20)
	kernel := make([]byte, 1024)
	copy(kernel[0x202:], "HdrS")
	m := Manifest{
		Name: name, Label: "Berth Tiny", OSArch: "x86-64", System: "Berth", Version: "1",
		Disk: filepath.Join(dir, "disk.qcow2"), SizeMB: 256,
		Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd"),
		Cmdline:       "console=ttyS0 root=/dev/vda rw",
		KernelVersion: "6.1.0-56-cloud-amd64",
		Built:         time.Date(2026, 11, 26, 23, 37, 38, 0, time.UTC),
	}
	for path, data := range map[string][]byte{m.Disk: disk, m.Kernel: kernel, m.Initrd: []byte("070701")} {
		if err := os.WriteFile(path, data, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func writeManifest(t *testing.T, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(t *testing.T, m *Manifest) any // returns what to write
		wantErr string                              // substring; "" means valid
	}{
		{name: "valid", edit: func(_ *testing.T, m *Manifest) any { return m }},
		{name: "unknown fields are ignored", edit: func(_ *testing.T, m *Manifest) any {
			data, _ := json.Marshal(m)
			var raw map[string]any
			_ = json.Unmarshal(data, &raw)
			raw["future_field"] = 7
			return raw
		}},
		{name: "bad json", edit: func(_ *testing.T, _ *Manifest) any { return json.RawMessage(`{"name": 3}`) },
			wantErr: "cannot unmarshal"},
		{name: "bad name", edit: func(_ *testing.T, m *Manifest) any { m.Name = "Tiny Image"; return m },
			wantErr: `name "Tiny Image" must match`},
		{name: "empty label", edit: func(_ *testing.T, m *Manifest) any { m.Label = " "; return m },
			wantErr: "label is empty"},
		{name: "empty cmdline", edit: func(_ *testing.T, m *Manifest) any { m.Cmdline = ""; return m },
			wantErr: "cmdline is empty"},
		{name: "zero size", edit: func(_ *testing.T, m *Manifest) any { m.SizeMB = 0; return m },
			wantErr: "size_mb 0 is not positive"},
		{name: "size mismatch", edit: func(_ *testing.T, m *Manifest) any { m.SizeMB = 512; return m },
			wantErr: "virtual size of 256 MiB, manifest says 512"},
		{name: "relative disk path", edit: func(_ *testing.T, m *Manifest) any { m.Disk = "disk.qcow2"; return m },
			wantErr: `path "disk.qcow2" is not absolute`},
		{name: "missing disk", edit: func(t *testing.T, m *Manifest) any {
			if err := os.Remove(m.Disk); err != nil {
				t.Fatal(err)
			}
			return m
		}, wantErr: "no such file"},
		{name: "disk not qcow2", edit: func(t *testing.T, m *Manifest) any {
			if err := os.Remove(m.Disk); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(m.Disk, make([]byte, 4096), 0o644); err != nil {
				t.Fatal(err)
			}
			return m
		}, wantErr: "is not qcow2"},
		{name: "kernel not bzImage", edit: func(t *testing.T, m *Manifest) any {
			if err := os.Remove(m.Kernel); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(m.Kernel, make([]byte, 4096), 0o644); err != nil {
				t.Fatal(err)
			}
			return m
		}, wantErr: "is not a bzImage"},
		{name: "kernel too short", edit: func(t *testing.T, m *Manifest) any {
			if err := os.Remove(m.Kernel); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(m.Kernel, []byte("MZ"), 0o644); err != nil {
				t.Fatal(err)
			}
			return m
		}, wantErr: "is too short"},
		{name: "empty initrd", edit: func(t *testing.T, m *Manifest) any {
			if err := os.Remove(m.Initrd); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(m.Initrd, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return m
		}, wantErr: "not a non-empty regular file"},
		{name: "initrd is a directory", edit: func(_ *testing.T, m *Manifest) any {
			m.Initrd = filepath.Dir(m.Initrd)
			return m
		}, wantErr: "not a non-empty regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := fixture(t, dir, "tiny")
			path := filepath.Join(dir, ManifestFile)
			writeManifest(t, path, tt.edit(t, &m))
			got, err := Load(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if diff := cmp.Diff(m, got); diff != "" {
					t.Errorf("Load mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want error containing %q", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), ManifestFile))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing file: got %v, want fs.ErrNotExist", err)
	}
}

func TestLoadDir(t *testing.T) {
	type layout map[string]string // subdir → manifest name ("!" prefix: broken)
	tests := []struct {
		name      string
		layout    layout
		wantNames []string
		wantErrs  []string
	}{
		{name: "empty", layout: layout{}, wantNames: nil},
		{name: "sorted by name", layout: layout{"b": "tiny", "a": "debian12"},
			wantNames: []string{"debian12", "tiny"}},
		{name: "bad one reported, good ones kept",
			layout:    layout{"tiny": "tiny", "broken": "!broken"},
			wantNames: []string{"tiny"}, wantErrs: []string{"broken/manifest.json", "size_mb 0"}},
		{name: "duplicate name", layout: layout{"a": "tiny", "b": "tiny"},
			wantNames: []string{"tiny"}, wantErrs: []string{`name "tiny" already used by`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			// A directory without a manifest is not an image.
			if err := os.Mkdir(filepath.Join(root, "debs"), 0o755); err != nil {
				t.Fatal(err)
			}
			for sub, name := range tt.layout {
				m := fixture(t, filepath.Join(root, sub), strings.TrimPrefix(name, "!"))
				if strings.HasPrefix(name, "!") {
					m.SizeMB = 0
				}
				writeManifest(t, filepath.Join(root, sub, ManifestFile), m)
			}
			got, err := LoadDir(root)
			var names []string
			for _, m := range got {
				names = append(names, m.Name)
			}
			if diff := cmp.Diff(tt.wantNames, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if len(tt.wantErrs) == 0 {
				if err != nil {
					t.Fatalf("LoadDir: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadDir succeeded, want errors %q", tt.wantErrs)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadDirMissing(t *testing.T) {
	_, err := LoadDir(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadDir of a missing directory: got %v, want fs.ErrNotExist", err)
	}
}

func TestFind(t *testing.T) {
	ms := []Manifest{{Name: "debian12"}, {Name: "tiny"}}
	tests := []struct {
		name   string
		wantOK bool
	}{
		{"tiny", true},
		{"debian12", true},
		{"centos", false},
	}
	for _, tt := range tests {
		got, ok := Find(ms, tt.name)
		if ok != tt.wantOK || (ok && got.Name != tt.name) {
			t.Errorf("Find(%q) = %q, %v; want ok=%v", tt.name, got.Name, ok, tt.wantOK)
		}
	}
}
