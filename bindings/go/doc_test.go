package sutracache

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Each ```go block of docs/bindings.md appears verbatim in a test of this package (less a
// `port :=` line, which the test replaces with the port of its server), so the docs show
// exactly what runs.
func TestTheDocsGoBlocksAreTheCodeTheTestsRun(t *testing.T) {
	doc, err := os.ReadFile("../../docs/bindings.md")
	if err != nil {
		t.Fatal(err)
	}
	var tests strings.Builder
	for _, f := range []string{"example_test.go", "client_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tests.Write(b)
	}
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "port :=") {
				out = append(out, strings.ReplaceAll(l, "sutracache.", ""))
			}
		}
		return strings.Join(out, "\n")
	}
	haystack := norm(tests.String())
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 2 {
		t.Fatalf("expected two Go blocks in docs/bindings.md, found %d", len(blocks))
	}
	for i, b := range blocks {
		if !strings.Contains(haystack, norm(b[1])) {
			t.Errorf("Go block %d of docs/bindings.md is not in the tests verbatim:\n%s", i, b[1])
		}
	}
}
