"""Code in HTML stays code: <pre> listings and compiler output keep their lines, fenced,
in the chunk text, the snippets and the preview."""

from __future__ import annotations

from pathlib import Path

from gemmasearch.extract import extract
from gemmasearch.extractors.web import fenced, html_blocks
from tests.conftest import write_files

# Shaped like mdBook's output (the Rust book's ch16-03-shared-state.html).
RUST_BOOK_PAGE = """<!DOCTYPE html><html lang="en"><head><title>Shared-State Concurrency -
The Rust Programming Language</title><script src="highlight-abc7f01d.js"></script></head>
<body><nav class="sidebar">1. Getting Started 2. Guessing Game</nav>
<div id="content" class="content"><main>
<h2 id="shared-state-concurrency"><a class="header" href="#x">Shared-State
Concurrency</a></h2>
<p>Let&#8217;s use a <code>Mutex&lt;T&gt;</code> to share a counter between ten threads.</p>
<div class="listing"><pre class="playground"><code class="language-rust edition2021">\
<span class="boring">use std::sync::Mutex;
</span>use std::thread;

fn main() {
    let counter = Rc::new(Mutex::new(0));
    let mut handles = vec![];

    for _ in 0..10 {
        let counter = Rc::clone(&amp;counter);
        let handle = thread::spawn(move || {
            let mut num = counter.lock().unwrap();
            *num += 1;
        });
        handles.push(handle);
    }
}</code></pre>
<p>Listing 16-14: Attempting to use <code>Rc&lt;T&gt;</code> to share a Mutex</p></div>
<pre><code class="language-console">$ cargo run
   Compiling shared-state v0.1.0 (file:///projects/shared-state)
error[E0277]: `Rc&lt;Mutex&lt;i32&gt;&gt;` cannot be sent between threads safely
  --&gt; src/main.rs:11:36
</code></pre>
<p>Wow, that error message is very wordy!</p>
</main></div></body></html>
"""


def test_pre_blocks_are_fenced_code_with_their_lines() -> None:
    _, blocks = html_blocks(RUST_BOOK_PAGE)
    code = [text for level, text in blocks if text.startswith("```")]
    assert len(code) == 2
    listing = code[0].split("\n")
    assert listing[0] == "```" and listing[-1] == "```"
    assert "fn main() {" in listing
    assert "    let counter = Rc::new(Mutex::new(0));" in listing
    assert "        let counter = Rc::clone(&counter);" in listing
    assert "error[E0277]: `Rc<Mutex<i32>>` cannot be sent between threads safely" \
        in code[1].split("\n")
    # Prose around it is still one paragraph a block, inline code inline.
    assert (0, "Let’s use a Mutex<T> to share a counter between ten threads.") in blocks


def test_a_fence_inside_the_code_gets_a_longer_fence() -> None:
    assert fenced("\n\n```\nx\n```\n\n") == "````\n```\nx\n```\n````"
    assert fenced("  \n") == ""


def test_preview_chunk_and_snippet_keep_the_lines(fake_engine, tmp_path: Path) -> None:
    root = write_files(tmp_path / "book", {"ch16-03-shared-state.html": RUST_BOOK_PAGE})
    page = root / "ch16-03-shared-state.html"
    preview = "\n".join(s.text for s in extract(page, page.read_bytes()).segments)
    assert "fn main() {\n    let counter = Rc::new(Mutex::new(0));\n" in preview
    fake_engine.index([root])
    hit = fake_engine.search("Rc::clone counter")[0]
    assert "for _ in 0..10 {\n        let counter = Rc::clone(&counter);" in hit.text
    assert hit.snippet.startswith("let counter = Rc::clone(&counter);"), hit.snippet
    assert "thread::spawn" not in hit.snippet.split("Rc::clone")[0]
