"""Opens HTML pages in the project's headless Chromium (build/chromium, `make browser`) and
checks that every Mermaid diagram on them rendered.

    build/browser-venv/bin/python tools/browser/render_check.py PAGE.html [PAGE.html ...]
        [--timeout SECONDS] [--chromium PATH] [--screenshot FILE.png]

A diagram is an element with class `mermaid` (`<pre class="mermaid">`, `<div class="mermaid">`)
in the page's HTML. The page loads Mermaid from a local file (mermaid.min.js, which defines
window.mermaid; an ES-module page sets window.mermaid itself) and runs it (startOnLoad or
mermaid.run()). The check waits, up to the deadline, until Mermaid has finished with every
diagram, then fails naming each one that did not render: Mermaid drew its "Syntax error in
text" diagram instead, or never produced an SVG. It also fails on any console error, page
error or failed request, and on any request that leaves the machine: the page must render
offline. Exit status 0 only when every diagram on every page rendered; 1 when one did not;
2 when the check itself cannot run.
"""

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = ROOT / "build" / "chromium" / "bin" / "chromium"

# Runs before the page's scripts: records each diagram's source as the parser adds it, since
# Mermaid clears the element before it renders (the source then names the diagram's kind,
# and lets a failure be re-parsed for its message).
RECORD_SOURCES = """
(() => {
  const sources = new Map();
  const record = () => {
    for (const el of document.querySelectorAll('.mermaid')) {
      if (!el.hasAttribute('data-processed') && !el.querySelector('svg')) sources.set(el, el.textContent);
    }
  };
  new MutationObserver(record).observe(document, {childList: true, subtree: true, characterData: true});
  Object.defineProperty(window, '__renderCheckSources', {value: sources});
})();
"""

# Each diagram's state. Mermaid's run() replaces a diagram's contents with its finished <svg>;
# while drawing, and after a failure, the SVG sits in a temporary <div id="d{svg id}">, and a
# failure draws Mermaid's error diagram (aria-roledescription "error", "Syntax error in text").
DIAGRAMS = """
() => {
  const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')];
  const all = [...document.querySelectorAll('.mermaid')].filter(el => !el.closest('svg'));
  return all.map((el, i) => {
    const svg = el.querySelector('svg');
    const recorded = window.__renderCheckSources && window.__renderCheckSources.get(el);
    const source = recorded !== undefined ? recorded : (svg ? '' : el.textContent);
    const isError = !!svg && (svg.getAttribute('aria-roledescription') === 'error'
      || /Syntax error in text/.test(svg.textContent));
    const drawing = !!svg && svg.parentElement !== el && svg.parentElement.id === 'd' + svg.id;
    const state = isError ? 'error' : (svg && !drawing ? 'rendered' : 'pending');
    const heading = headings.filter(h => h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
    const label = el.id ? '#' + el.id
      : (el.dataset.name || el.getAttribute('aria-label') || el.title
         || (heading ? 'after "' + heading.textContent.trim() + '"' : ''));
    const errorLines = isError ? [...svg.querySelectorAll('text.error-text')].map(t => t.textContent.trim()) : [];
    return {
      index: i + 1, count: all.length, label, source, state,
      processed: el.hasAttribute('data-processed'),
      role: svg ? svg.getAttribute('aria-roledescription') || '' : '',
      // The error diagram's first lines are its title and Mermaid's version; then the message.
      message: errorLines.filter(l => !/^Syntax error in text$|^mermaid version /.test(l)).join(' '),
    };
  });
}
"""

ALL_SETTLED = """
() => {
  const all = [...document.querySelectorAll('.mermaid')].filter(el => !el.closest('svg'));
  return all.every(el => {
    const svg = el.querySelector('svg');
    if (!svg) return false;
    const failed = svg.getAttribute('aria-roledescription') === 'error' || /Syntax error in text/.test(svg.textContent);
    return failed || !(svg.parentElement !== el && svg.parentElement.id === 'd' + svg.id);
  });
}
"""

REPARSE = """
async (source) => {
  try { await window.mermaid.parse(source); return ''; }
  catch (e) { return String((e && e.message) || e); }
}
"""

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def kind_of(source):
    """The diagram type: the first word after any front matter, directives and comments."""
    lines = source.strip().splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() == "---"), 0)
        lines = lines[end + 1:]
    for line in lines:
        line = line.strip()
        if line and not line.startswith("%%"):
            return line.split()[0]
    return ""


def describe(d):
    kind = kind_of(d["source"]) or d["role"] or "unknown kind"
    label = f' {d["label"]}' if d["label"] else ""
    return f'diagram {d["index"]} of {d["count"]}{label} ({kind})'


def check_page(browser, page_path, timeout, screenshot=None):
    """Renders one page; returns (problems, summary) where problems is a list of lines."""
    problems = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def route(r):
        if r.request.url.startswith(LOCAL_SCHEMES):
            r.continue_()
        else:
            problems.append(f"the page requested {r.request.url}: it must render offline")
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.add_init_script(RECORD_SOURCES)
    page.on("console", lambda m: m.type == "error" and problems.append(
        f"console error: {m.text}" + (f' ({m.location["url"]}:{m.location["lineNumber"]})' if m.location.get("url") else "")))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: r.url.startswith(LOCAL_SCHEMES) and problems.append(
        f"could not load {r.url}: {r.failure}"))

    started = time.monotonic()
    deadline = started + timeout
    page.goto(page_path.resolve().as_uri(), wait_until="load", timeout=timeout * 1000)
    diagrams = page.evaluate(DIAGRAMS)
    mermaid_loaded = page.evaluate("() => typeof window.mermaid !== 'undefined'")
    if not diagrams:
        problems.append('no Mermaid diagrams on the page (no element with class "mermaid")')
    elif not mermaid_loaded and not any(d["processed"] for d in diagrams):
        # Mermaid runs on the load event, so after it a page without window.mermaid never renders.
        problems.append("window.mermaid is undefined once the page has loaded: mermaid.min.js did not load")
    else:
        remaining = max(deadline - time.monotonic(), 0.001)
        try:
            page.wait_for_function(ALL_SETTLED, polling=100, timeout=remaining * 1000)
        except Exception:  # the deadline: the diagrams still pending are reported below
            pass
        diagrams = page.evaluate(DIAGRAMS)
        for d in diagrams:
            if d["state"] == "rendered":
                continue
            if d["state"] == "error":
                # Parsing the source again gives Mermaid's message with its line breaks; the
                # error diagram's text has the same message flattened.
                reason = (mermaid_loaded and d["source"] and page.evaluate(REPARSE, d["source"])) or d["message"]
                problems.append(f"{describe(d)} did not render: Mermaid drew its error diagram"
                                + (":\n" + textwrap.indent(reason.strip(), "      ") if reason else ""))
            elif not d["processed"]:
                problems.append(f"{describe(d)} did not render: Mermaid never processed it within {timeout:g} s")
            else:
                problems.append(f"{describe(d)} did not render: no finished SVG within {timeout:g} s")
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    elapsed = time.monotonic() - started
    context.close()
    rendered = [d for d in diagrams if d["state"] == "rendered"]
    kinds = ", ".join(kind_of(d["source"]) or d["role"] for d in rendered)
    summary = (f"{len(rendered)} of {len(diagrams)} diagrams rendered"
               + (f" ({kinds})" if kinds else "") + f" in {elapsed:.1f} s")
    return problems, summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", type=Path, metavar="PAGE.html")
    parser.add_argument("--timeout", type=float, default=60, help="seconds each page may take (default 60)")
    parser.add_argument("--chromium", type=Path, default=Path(os.environ.get("EVENTKIT_CHROMIUM", DEFAULT_CHROMIUM)),
                        help="the browser (default build/chromium/bin/chromium, or $EVENTKIT_CHROMIUM)")
    parser.add_argument("--screenshot", type=Path, help="write a full-page PNG (one page only)")
    args = parser.parse_args(argv)
    if not os.access(args.chromium, os.X_OK):
        print(f"render-check: no browser at {args.chromium}: run `make browser`", file=sys.stderr)
        return 2
    missing = [str(p) for p in args.pages if not p.is_file()]
    if missing:
        print(f"render-check: no such page: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.screenshot and len(args.pages) != 1:
        print("render-check: --screenshot takes one page", file=sys.stderr)
        return 2

    from playwright.sync_api import sync_playwright

    failed = False
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(args.chromium), headless=True)
        try:
            for page_path in args.pages:
                problems, summary = check_page(browser, page_path, args.timeout, args.screenshot)
                if problems:
                    failed = True
                    print(f"render-check: FAILED {page_path}: {summary}", file=sys.stderr)
                    for line in problems:
                        print(f"  {line}", file=sys.stderr)
                else:
                    print(f"render-check: ok {page_path}: {summary}")
        finally:
            browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
