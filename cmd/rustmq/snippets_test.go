package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docFiles are the documents whose Go snippets must compile against the
// module as it is.
var docFiles = []string{"README.md", "docs/metrics.md", "docs/migration.md"}

// snippetNames are what the snippets use without declaring it: what the
// reader's own program would hold.
const snippetNames = `
var (
	ctx      context.Context
	password string
	order    any
	msgs     []*rmq.Message
	in       chan *rmq.Message
	brokers  []string
	rt       *rmq.Runtime
)
`

// knownImports are the packages a snippet may use without importing them.
var knownImports = map[string]string{
	"context": "context", "fmt": "fmt", "time": "time", "http": "net/http",
	"rmq": "github.com/rustmq/rustmq-go/runtime", "compress": "github.com/rustmq/rustmq-go/transport/compress",
	"supervision": "github.com/rustmq/rustmq-go/supervision", "errors": "errors",
}

// goSnippets returns the ```go blocks of file (relative to the module
// root), except those that show another module's API.
func goSnippets(t *testing.T, root, file string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "```go":
			in, cur = true, nil
		case in && line == "```":
			in = false
			if len(cur) > 0 && strings.HasPrefix(cur[0], "// upstream SDK") {
				continue
			}
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

var (
	importBlockRE  = regexp.MustCompile(`^(?:\s*//[^\n]*\n)*\s*import\s*(\([^)]*\)|"[^"]*"|\w+ "[^"]*")\s*\n`)
	importSpecRE   = regexp.MustCompile(`(?m)^\s*(?:(\w+)\s+)?"([^"]+)"`)
	topDeclaredRE  = regexp.MustCompile(`(?m)^([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*:=`)
	placeholdersRE = regexp.MustCompile(`\{\s*\.\.\.\s*\}`)
)

// snippetSource turns a snippet into a Go file of package snippets: its
// imports, plus the known packages it uses without importing them, and
// its statements as the body of a function, with "{ ... }" placeholders
// emptied and every variable declared at its top level used.
func snippetSource(snippet string) string {
	imports := map[string]string{} // name -> path
	body := snippet
	if m := importBlockRE.FindStringSubmatch(snippet); m != nil {
		body = snippet[len(m[0]):]
		for _, spec := range importSpecRE.FindAllStringSubmatch(m[1], -1) {
			name := spec[1]
			if name == "" {
				name = spec[2][strings.LastIndexByte(spec[2], '/')+1:]
			}
			imports[name] = spec[2]
		}
	}
	body = placeholdersRE.ReplaceAllString(body, "{}")
	code := snippetNames + body
	for name, path := range knownImports {
		if _, ok := imports[name]; !ok && regexp.MustCompile(`\b`+name+`\.`).MatchString(code) {
			imports[name] = path
		}
	}
	var b strings.Builder
	b.WriteString("package snippets\n\nimport (\n")
	for name, path := range imports {
		fmt.Fprintf(&b, "\t%s %q\n", name, path)
	}
	b.WriteString(")\n" + snippetNames + "\nfunc snippet() {\n" + body + "\n")
	for _, m := range topDeclaredRE.FindAllStringSubmatch(body, -1) {
		for _, v := range strings.Split(m[1], ",") {
			if v = strings.TrimSpace(v); v != "_" {
				fmt.Fprintf(&b, "\t_ = %s\n", v)
			}
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// TestDocGoSnippets compiles every Go snippet of the README and the docs
// against the module, each as the body of a function in a package of its
// own (placed with -overlay, nothing is written into the tree): a renamed
// field, a changed signature or a missing import breaks the test.
func TestDocGoSnippets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	tmp := t.TempDir()
	overlay := map[string]string{}
	var pkgs []string
	where := map[string]string{}
	for _, file := range docFiles {
		for i, s := range goSnippets(t, root, file) {
			dir := fmt.Sprintf("zz_docsnippet_%s_%d", strings.NewReplacer("/", "_", ".", "_").Replace(file), i)
			src := filepath.Join(tmp, dir+".go")
			if err := os.WriteFile(src, []byte(snippetSource(s)), 0o600); err != nil {
				t.Fatal(err)
			}
			overlay[filepath.Join(root, dir, "snippet.go")] = src
			pkgs = append(pkgs, "./"+dir)
			where[dir] = fmt.Sprintf("%s, Go block %d", file, i+1)
		}
	}
	if len(pkgs) < 4 {
		t.Fatalf("found %d Go snippets in %v; the README alone has 2", len(pkgs), docFiles)
	}
	js, _ := json.Marshal(map[string]any{"Replace": overlay})
	ov := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ov, js, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, append([]string{"build", "-overlay", ov}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := string(out)
		for dir, w := range where {
			msg = strings.ReplaceAll(msg, dir, w)
		}
		t.Fatalf("a documented snippet does not compile: %v\n%s", err, msg)
	}
}
