from recg.text import DEFAULT_TEMPLATE, ItemFields, clean, render, template_placeholders


def test_clean_flattens_lists_unescapes_html_and_strips_tags():
    assert clean(["Red &amp; Blue", ["<b>bold</b>", "x"]], 100) == "Red & Blue bold x"
    assert clean(None, 10) == ""
    assert clean("a   b\n c", 100) == "a b c"
    assert clean("abcdefgh", 4) == "abcd"


def test_render_fills_missing_fields_like_the_authors():
    text = render(ItemFields(title="Tent"), DEFAULT_TEMPLATE)
    assert "title: Tent." in text
    assert "Feature: no feature provided." in text
    assert text.endswith("Description: no description provided")


def test_has_text_needs_title_features_or_description():
    assert ItemFields(title="x").has_text()
    assert ItemFields(description="x").has_text()
    assert not ItemFields(brand="Acme", categories="Tools").has_text()


def test_template_placeholders():
    assert template_placeholders("{title} by {brand}") == ["title", "brand"]
