package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCommand checks what `make lint` relies on: the command's output format
// and exit status on a throwaway module with one simulated and one ordinary
// package.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs go list")
	}
	bin := filepath.Join(t.TempDir(), "detlint")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	mod := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/smoke\n\ngo 1.26\n")
	write("tools/tools.go", "package tools\n\nfunc F() { go F() }\n")
	simulated := "package p\n\nfunc F() {\n\tgo F()\n}\n"
	write("protocols/p/p.go", simulated)

	run := func() (string, int) {
		t.Helper()
		cmd := exec.Command(bin, "./...")
		cmd.Dir = mod
		// The module has no dependencies; keep the caller's workspace
		// and flags from leaking in.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
		out, err := cmd.CombinedOutput()
		var exitErr *exec.ExitError
		switch {
		case err == nil:
			return string(out), 0
		case errors.As(err, &exitErr):
			return string(out), exitErr.ExitCode()
		}
		t.Fatalf("running detlint: %v", err)
		return "", 0
	}

	out, code := run()
	if code != 3 {
		t.Errorf("exit status with findings = %d, want 3; output:\n%s", code, out)
	}
	want := regexp.MustCompile(`^\S+/protocols/p/p\.go:4:2: go statement in simulated code: start a task with env\.Go\(name, fn\)$`)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !want.MatchString(lines[0]) {
		t.Errorf("output = %q, want one line matching %s (and nothing about package tools)", out, want)
	}

	write("protocols/p/p.go", strings.Replace(simulated, "go F()", "go F() //detsim:allow smoke test", 1))
	if out, code := run(); code != 0 || out != "" {
		t.Errorf("clean run: exit status %d, output %q; want 0 and no output", code, out)
	}
}
