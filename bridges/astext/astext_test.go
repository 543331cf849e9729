package astext

import "testing"

func TestText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"paragraphs", "<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"empty paragraphs collapse", "<p>One</p><p></p><p>Two</p>", "One\n\nTwo"},
		{"line break", "<p>One<br>Two<br/>Three</p>", "One\nTwo\nThree"},
		{"whitespace collapses", "<p>  a\n   b\t c </p>", "a b c"},
		{"inline markup keeps spaces", "<p>With <strong>bold</strong> and <em>em</em>.</p>", "With bold and em."},
		{"unordered list", "<p>Bring:</p><ul><li>bread</li><li>cheese</li></ul><p>Thanks</p>", "Bring:\n\n- bread\n- cheese\n\nThanks"},
		{"list after text", "Items:<ul><li>x</li></ul>", "Items:\n- x"},
		{"ordered list", "<ol><li>first</li><li>second</li></ol>", "1. first\n2. second"},
		{"paragraph inside item", "<ul><li><p>one</p></li><li><p>two</p></li></ul>", "- one\n- two"},
		{"nested list", "<ul><li>a<ul><li>a1</li></ul></li><li>b</li></ul>", "- a\n  - a1\n- b"},
		{"link with text", `<p>See <a href="https://example.org/x">the site</a>.</p>`, "See the site (https://example.org/x)."},
		{"bare link", `<p><a href="https://example.org/">https://example.org/</a></p>`, "https://example.org/"},
		{"entities", "<p>Fish &amp; chips &lt;3</p>", "Fish & chips <3"},
		{"pre keeps lines", "<pre>a\n  b</pre>", "a\n  b"},
		{"heading", "<h2>Title</h2><p>Body</p>", "Title\n\nBody"},
		{"script dropped", "<p>a</p><script>alert(1)</script>", "a"},
		{"plain text", "just text", "just text"},
		{"image alt", `<p>Look <img src="x.png" alt="a cat"> here</p>`, "Look [a cat] here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Errorf("Text(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	got := Sanitize(`<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:alert(1)">x</a></p>`)
	want := `<p>Hi x</p>`
	if got != want {
		t.Errorf("Sanitize: got %q, want %q", got, want)
	}
}

func TestFromPlain(t *testing.T) {
	h, txt := FromPlain("\n    📍 Colosseo\n    📅 Wednesday <14 July>\n\n\n   second\n  ")
	if want := "<p>📍 Colosseo<br>📅 Wednesday &lt;14 July&gt;</p><p>second</p>"; h != want {
		t.Errorf("html: got %q, want %q", h, want)
	}
	if want := "📍 Colosseo\n📅 Wednesday <14 July>\n\nsecond"; txt != want {
		t.Errorf("text: got %q, want %q", txt, want)
	}
}

func TestLooksLikeHTML(t *testing.T) {
	for s, want := range map[string]bool{
		"<p>x</p>":           true,
		"a <strong>b":        true,
		"Fish &amp; chips":   true,
		"1 < 2 and 3 > 2":    false,
		"📍 Colosseo\n📅 July": false,
		"":                   false,
	} {
		if got := LooksLikeHTML(s); got != want {
			t.Errorf("LooksLikeHTML(%q) = %v, want %v", s, got, want)
		}
	}
}
