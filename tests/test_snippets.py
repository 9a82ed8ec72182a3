from gemmasearch.snippets import snippet_for


def test_line_sharing_most_query_words_wins():
    text = "# Title\n\nfirst paragraph\n\nthe tomato sauce needs basil\nlast"
    assert snippet_for(text, "tomato basil") == (4, "the tomato sauce needs basil last")


def test_semantic_match_skips_headings_and_fences():
    assert snippet_for("# Soup\n\nSimmer the lentils slowly.", "legume broth") == (
        2, "Simmer the lentils slowly.")
    assert snippet_for("```\ncode here\n```", "zzz")[0] == 1


def test_long_lines_are_cut():
    offset, snippet = snippet_for("word " * 200, "word")
    assert offset == 0 and len(snippet) == 200 and snippet.endswith("…")
