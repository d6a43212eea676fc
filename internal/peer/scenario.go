package peer

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ErrNoModuleRoot is returned when no go.mod is found above the working
// directory, so testdata/sipp cannot be located.
var ErrNoModuleRoot = errors.New("no go.mod found above the working directory")

// ModuleRoot returns the directory holding go.mod, found by walking up from
// the working directory (go test runs in the package's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoModuleRoot
		}
		dir = parent
	}
}

// ScenarioPath returns the path of a SIPp scenario: name itself when it is
// an absolute path or contains a path separator, else
// <module root>/testdata/sipp/name.
func ScenarioPath(name string) (string, error) {
	if filepath.IsAbs(name) || strings.ContainsRune(name, filepath.Separator) {
		return name, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "testdata", "sipp", name), nil
}

// scenarioKey is one "@key name=default" line of a scenario's header comment.
type scenarioKey struct {
	name       string
	def        string
	hasDefault bool
}

var keyLine = regexp.MustCompile(`(?m)^\s*@key\s+([A-Za-z0-9_]+)(=(\S*))?`)

// scenarioKeys reads the keys a scenario declares.
func scenarioKeys(xml []byte) []scenarioKey {
	var keys []scenarioKey
	for _, m := range keyLine.FindAllSubmatch(xml, -1) {
		keys = append(keys, scenarioKey{name: string(m[1]), def: string(m[3]), hasDefault: len(m[2]) > 0})
	}
	return keys
}

// resolveKeys fills in the declared defaults and refuses keys the scenario
// does not declare and declared keys without a default that are missing.
func resolveKeys(name string, declared []scenarioKey, given map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(declared))
	known := make(map[string]bool, len(declared))
	var problems []string
	for _, k := range declared {
		known[k.name] = true
		if v, ok := given[k.name]; ok {
			out[k.name] = v
		} else if k.hasDefault {
			out[k.name] = k.def
		} else {
			problems = append(problems, fmt.Sprintf("key %q is required", k.name))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(given)) {
		if !known[k] {
			problems = append(problems, fmt.Sprintf("key %q is not declared (no @key line)", k))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("scenario %s: %s", name, strings.Join(problems, "; "))
	}
	return out, nil
}
