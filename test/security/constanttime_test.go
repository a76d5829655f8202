package security

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// secretName matches the names of values that hold or are checked against a credential.
var secretName = regexp.MustCompile(`(?i)(signature|^sig$|sig[A-Z_]|mac$|^mac|secret|csrf|token|encrykey|nonce)`)

// Credentials are compared in constant time (hmac.Equal, subtle.ConstantTimeCompare): the test
// reads the front door's and the login and redemption packages' code and fails on any == or !=
// between, or bytes.Equal / strings.EqualFold of, values named as credentials. Comparisons with a
// literal ("" or nil: presence checks) are allowed.
func TestCredentialsComparedInConstantTime(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	var checked int
	for _, dir := range []string{"webhook", "internal/login", "internal/redeem", "internal/voucher", "internal/credentials"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			checked++
			ast.Inspect(f, func(n ast.Node) bool {
				switch e := n.(type) {
				case *ast.BinaryExpr:
					if (e.Op == token.EQL || e.Op == token.NEQ) && !isLiteral(e.X) && !isLiteral(e.Y) && (secretExpr(e.X) || secretExpr(e.Y)) {
						t.Errorf("%s: %s compares a credential with %s; use hmac.Equal or subtle.ConstantTimeCompare",
							fset.Position(e.Pos()), render(e.X)+" "+e.Op.String()+" "+render(e.Y), e.Op)
					}
				case *ast.CallExpr:
					if sel, ok := e.Fun.(*ast.SelectorExpr); ok {
						if pkg, ok := sel.X.(*ast.Ident); ok && ((pkg.Name == "bytes" && sel.Sel.Name == "Equal") || (pkg.Name == "strings" && sel.Sel.Name == "EqualFold")) {
							for _, a := range e.Args {
								if secretExpr(a) {
									t.Errorf("%s: %s.%s on a credential; use hmac.Equal or subtle.ConstantTimeCompare", fset.Position(e.Pos()), pkg.Name, sel.Sel.Name)
								}
							}
						}
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 20 {
		t.Fatalf("only %d files read: the paths are wrong", checked)
	}
}

// secretExpr reports whether e is a value named as a credential: an identifier, a field, or an
// index or call result of one (sig[0] is not a credential; sig is).
func secretExpr(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.Ident:
		return secretName.MatchString(v.Name)
	case *ast.SelectorExpr:
		return secretName.MatchString(v.Sel.Name)
	case *ast.CallExpr:
		// string(mac), []byte(secret): a conversion of a credential is one.
		if len(v.Args) == 1 {
			if _, ok := v.Fun.(*ast.Ident); ok {
				return secretExpr(v.Args[0])
			}
			if _, ok := v.Fun.(*ast.ArrayType); ok {
				return secretExpr(v.Args[0])
			}
		}
	case *ast.ParenExpr:
		return secretExpr(v.X)
	}
	return false
}

func isLiteral(e ast.Expr) bool {
	switch v := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return v.Name == "nil"
	}
	return false
}

func render(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.Ident:
		return v.Name
	case *ast.SelectorExpr:
		return render(v.X) + "." + v.Sel.Name
	}
	return "…"
}
