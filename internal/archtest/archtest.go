// Package archtest checks the shape of the apedge module: which packages may import
// which (dependencies point one way: devices know nothing of the bus, the agent nothing
// of the bridge's internals), and that times of day come only from package clock. Its
// tests run over the module's own source on every `make test`; the checks are
// functions so that a test can run them on a small tree of its own and see them fail.
//
// The import rules follow Tailscale's deptest (tstest/deptest): a table of packages
// and what they must not import, checked against the source, not against a build.
package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Package is one directory of Go source: its import path and, for its non-test files,
// what they import.
type Package struct {
	Path    string              // import path
	Dir     string              // directory
	Imports map[string][]string // import path -> the files importing it
	Files   []string            // non-test .go files
}

// Load reads every package under root, a module whose path is module. Test files,
// testdata and hidden directories are skipped.
func Load(root, module string) ([]*Package, error) {
	var pkgs []*Package
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		ents, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		p := &Package{Path: module, Dir: path, Imports: map[string][]string{}}
		if rel != "." {
			p.Path = module + "/" + filepath.ToSlash(rel)
		}
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			file := filepath.Join(path, n)
			f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
			if err != nil {
				return fmt.Errorf("archtest: %w", err)
			}
			p.Files = append(p.Files, file)
			for _, im := range f.Imports {
				ip, _ := strconv.Unquote(im.Path.Value)
				p.Imports[ip] = append(p.Imports[ip], file)
			}
		}
		if len(p.Files) > 0 {
			pkgs = append(pkgs, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("archtest: %w", err)
	}
	return pkgs, nil
}

// Rule forbids packages under From (an import path, or a prefix ending in "/...") to
// import anything under any of Not (the same forms), and says why. The rule holds for
// what they import through other packages of the module too, unless Direct is set.
type Rule struct {
	From   string
	Not    []string
	Why    string
	Direct bool
}

func matches(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// CheckImports returns one line for each import that breaks a rule, naming the chain
// of imports that reaches it.
func CheckImports(pkgs []*Package, rules []Rule) []string {
	byPath := map[string]*Package{}
	for _, p := range pkgs {
		byPath[p.Path] = p
	}
	var bad []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !matches(r.From, p.Path) {
				continue
			}
			for ip, chain := range reach(p, byPath, r.Direct) {
				for _, not := range r.Not {
					if matches(not, ip) {
						bad = append(bad, fmt.Sprintf("%s imports %s (%s): %s", p.Path, ip, chain, r.Why))
					}
				}
			}
		}
	}
	slices.Sort(bad)
	return bad
}

// reach returns what p imports, directly or (unless direct) through the module's own
// packages, each with how: the first file's name for a direct import, else the chain.
func reach(p *Package, byPath map[string]*Package, direct bool) map[string]string {
	out := map[string]string{}
	for ip, files := range p.Imports {
		out[ip] = "in " + filepath.Base(files[0])
	}
	if direct {
		return out
	}
	queue := slices.Sorted(maps.Keys(out))
	for len(queue) > 0 {
		ip := queue[0]
		queue = queue[1:]
		q := byPath[ip]
		if q == nil {
			continue
		}
		for next := range q.Imports {
			if _, seen := out[next]; !seen {
				out[next] = "via " + ip
				queue = append(queue, next)
			}
		}
	}
	return out
}

// Call is a call of time.Now found in source.
type Call struct {
	File string // slash-separated, relative to the root
	Func string // the enclosing function: "Name" or "Type.Name"; "" at package level
	Line int
}

// Key names c for an allow-list: "file Func".
func (c Call) Key() string { return c.File + " " + c.Func }

// TimeNowCalls finds every call of time.Now in the non-test Go files of pkgs, whatever
// name the file gives package time.
func TimeNowCalls(root string, pkgs []*Package) ([]Call, error) {
	var calls []Call
	fset := token.NewFileSet()
	for _, p := range pkgs {
		for _, file := range p.Files {
			f, err := parser.ParseFile(fset, file, nil, 0)
			if err != nil {
				return nil, fmt.Errorf("archtest: %w", err)
			}
			timeName := ""
			for _, im := range f.Imports {
				if ip, _ := strconv.Unquote(im.Path.Value); ip == "time" {
					timeName = "time"
					if im.Name != nil {
						timeName = im.Name.Name
					}
				}
			}
			if timeName == "" {
				continue
			}
			rel, _ := filepath.Rel(root, file)
			for _, decl := range f.Decls {
				fn := ""
				if fd, ok := decl.(*ast.FuncDecl); ok {
					fn = fd.Name.Name
					if fd.Recv != nil && len(fd.Recv.List) > 0 {
						fn = recvName(fd.Recv.List[0].Type) + "." + fn
					}
				}
				ast.Inspect(decl, func(n ast.Node) bool {
					sel, ok := n.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "Now" {
						return true
					}
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == timeName && id.Obj == nil {
						calls = append(calls, Call{File: filepath.ToSlash(rel), Func: fn, Line: fset.Position(sel.Pos()).Line})
					}
					return true
				})
			}
		}
	}
	return calls, nil
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

// CheckTimeNow returns one line for each call of time.Now not in allowed (keyed by
// Call.Key) and one for each allow-list entry no call needs any more.
func CheckTimeNow(calls []Call, allowed map[string]string) []string {
	var bad []string
	used := map[string]bool{}
	for _, c := range calls {
		if _, ok := allowed[c.Key()]; ok {
			used[c.Key()] = true
			continue
		}
		bad = append(bad, fmt.Sprintf("%s:%d: time.Now() in %s: take the time from the injected clock.Clock (or, to measure a duration, allow it here with why)", c.File, c.Line, c.Func))
	}
	for k := range allowed {
		if !used[k] {
			bad = append(bad, fmt.Sprintf("allow-list entry %q matches no call of time.Now: remove it", k))
		}
	}
	slices.Sort(bad)
	return bad
}
