package rustmq_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rustmq/rustmq-go"

// allowed lists, for each layer, the layers of this module it may import.
// Layers not listed may import nothing of ours but internal helpers.
// Programs may import supervision: runtime.Config.Supervision is a
// supervision.Config, so tuning supervision means importing it.
// Imports point down only (README.md, "Layout").
var allowed = map[string][]string{
	"transport/wire":     {},
	"transport/compress": {"transport/wire"},
	"transport":          {"transport/wire"},
	"supervision":        {"transport", "transport/wire"},
	"actors":             {"transport", "transport/wire", "transport/compress", "supervision"},
	"runtime":            {"transport", "transport/wire", "transport/compress", "supervision", "actors"},
	"broker":             {"transport/wire"},
	"examples":           {"runtime", "supervision", "broker", "transport/wire", "transport/compress"},
	"bench":              {"runtime", "supervision", "broker", "transport", "transport/wire", "transport/compress"},
	"cmd":                {"broker", "runtime", "supervision", "transport", "transport/wire", "transport/compress"},
}

// layerOf maps a package path (relative to the module) to its layer: the
// longest key of allowed that prefixes it.
func layerOf(rel string) string {
	best := ""
	for l := range allowed {
		if (rel == l || strings.HasPrefix(rel, l+"/")) && len(l) > len(best) {
			best = l
		}
	}
	return best
}

// TestLayering fails when a package imports a layer above its own. It reads
// the non-test imports of every package from `go list`.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		from := layerOf(rel)
		if from == "" {
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			irel := strings.TrimPrefix(imp, module+"/")
			if strings.HasPrefix(irel, "internal/") || strings.Contains(irel, "/internal/") {
				continue // helpers shared below the public layers
			}
			to := layerOf(irel)
			if to == from || (to != "" && strings.HasPrefix(irel, from+"/")) {
				continue
			}
			ok := false
			for _, a := range allowed[from] {
				if a == to {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s (layer %s) imports %s (layer %q): imports must point down", p.ImportPath, from, imp, to)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package was checked")
	}
}
