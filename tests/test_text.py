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


def test_clean_of_a_long_text_equals_cleaning_it_whole():
    import random

    from recg.text import _tidy

    rng = random.Random(1)
    pieces = ["<b>", "</p>", "&amp;", "&lt;", " ", "\n", "word", "x" * 60, "<" + "a" * 190 + ">"]
    for _ in range(500):
        text = "".join(rng.choices(pieces, k=rng.randint(0, 600)))
        for max_chars in (16, 50, 200):
            assert clean(text, max_chars) == _tidy(text)[:max_chars].rstrip()


def test_clean_of_a_megabyte_is_quick():
    import time

    start = time.perf_counter()
    assert clean("<p>lamp &amp; shade</p>" * 50_000, 100).startswith("lamp & shade lamp")
    assert clean("<" * 2_000_000, 20) == "<" * 20
    assert time.perf_counter() - start < 0.5
