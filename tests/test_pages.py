from recg.pages import markdown_html, write_markdown

TEXT = """## Zero-shot: R@10 (%)

Chosen on `validation` targets, **never** on test ones;
_mean_ over seeds.

| Source | Model | R@10 |
|:-------|:------|-----:|
| Gear   | GRU4Rec-Sem <b> | 12.50 ± 0.30 |
| Books  | SASRec-RecG (alpha=0.01) | 9.10 |
"""


def test_markdown_tables_become_html_tables_with_their_alignment():
    page = markdown_html(TEXT)
    assert "<h2>Zero-shot: R@10 (%)</h2>" in page
    assert (
        "<p>Chosen on <code>validation</code> targets, <strong>never</strong> on test ones; <em>mean</em> over seeds.</p>"
        in page
    )
    assert page.count("<tr>") == 3 and page.count("<th") == 3 and page.count("<td") == 6
    assert "<th class=r>R@10</th>" in page and "<td class=r>12.50 ± 0.30</td>" in page
    assert "<td>Gear</td>" in page
    assert "GRU4Rec-Sem &lt;b&gt;" in page  # text is escaped, never markup
    assert "alpha=0.01" in page and "<em>" not in page.split("<table>")[1]


def test_the_markdown_and_its_page_are_written_together(tmp_path):
    write_markdown(TEXT, tmp_path / "t.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.html", "t.md"]
    assert (tmp_path / "t.md").read_text() == TEXT
    assert (tmp_path / "t.html").read_text() == markdown_html(TEXT)
